"""Importing this module registers every action, callback and form of the bot."""

from handlers import admin, core, desk, difficulties, forms, reminders, reports  # noqa: F401
