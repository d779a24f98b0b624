"""The ingest engine: what sources yield (`records`: the neutral records and the Source contract, the one thing
the shop adapters in bot/shops share with the store), how orders are encoded for the store (`encoding`), how
pages are written exactly and idempotently (`writer`), how a shop's sync resumes from its cursors (`sync`), and
where shop tokens are kept (`token_store`). Nothing here speaks HTTP or reads a file."""
