-- Invite and link codes are kept as their SHA-256 (storage.units.code_hash): a copy of the
-- database gives no usable code. `sha256` is registered on the connection by storage.db.
UPDATE invites SET code = sha256(upper(trim(code))) WHERE length(code) <> 64;
