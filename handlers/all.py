"""Importing this module registers every action, callback and form of the bot."""

from handlers import (  # noqa: F401
    admin,
    broadcasts,
    compile,
    core,
    desk,
    difficulties,
    export,
    forms,
    people,
    reminders,
    reports,
    signin,
)
