-- Units have a life (issue 16): administrative maps change under a programme that runs to 2030
-- (departments merged in March 2025, districts abolished in July 2025), so a unit has the days
-- it exists (both inclusive; NULL is open-ended), a short name, and its successors (a merge, a
-- split or a rename). Its reports stay with it; the first successor is the one its history is
-- rolled up to when asked.
ALTER TABLE units ADD COLUMN short_name TEXT;
ALTER TABLE units ADD COLUMN valid_from TEXT;
ALTER TABLE units ADD COLUMN valid_to TEXT;

CREATE TABLE unit_successors (
    unit_id INTEGER NOT NULL REFERENCES units(id),
    successor_id INTEGER NOT NULL REFERENCES units(id),
    position INTEGER NOT NULL,
    PRIMARY KEY (unit_id, successor_id)
) WITHOUT ROWID;

-- Kinds of unit are data too, named in both languages by the units file ("kinds:" in YAML).
-- The kinds the bot has always known are named here, so existing databases read as before.
CREATE TABLE unit_kinds (
    code TEXT PRIMARY KEY,
    name_vi TEXT NOT NULL,
    name_en TEXT NOT NULL,
    position INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
INSERT INTO unit_kinds (code, name_vi, name_en, position) VALUES
    ('city', 'Thành phố', 'City', 0),
    ('department', 'Sở, ban, ngành', 'Departments and sectors', 10),
    ('district', 'Quận, huyện', 'Districts', 20),
    ('commune', 'Xã, phường, thị trấn', 'Communes and wards', 30),
    ('organisation', 'Đoàn thể, tổ chức chính trị - xã hội', 'Mass organisations', 50),
    ('press', 'Cơ quan báo chí', 'Press', 60),
    ('portal', 'Cổng thông tin điện tử', 'Portals', 70);
