"""Gettext catalogs (vi default, en second); a package only so that installs carry the .po files."""
