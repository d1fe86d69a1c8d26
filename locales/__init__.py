"""Gettext catalogs (vi default, en second) and the translator that handlers/ and bot/ both use."""
