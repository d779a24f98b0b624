"""Adapters to the shops: one API client per platform (TikTok Shop, Shopee, Amazon, Shopify) and the reader of
export files (CSV/XLSX for Temu, SHEIN and anything else). Each turns its platform's shape into the neutral records
of `storage.ingest.records` and nothing else; `bot.shop_sources` builds the right one for a shop."""
