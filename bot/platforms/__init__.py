"""The chat platforms' adapters. lark-oapi's API services load when first used (bot.platforms.lark_deferred)."""

from bot.platforms import lark_deferred

lark_deferred.install()
