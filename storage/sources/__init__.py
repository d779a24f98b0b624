"""Shop data sources: API clients and file importers. Each yields the neutral records of
`storage.sources.records`; `storage.sources.writer` stores them, so no source touches the store itself."""
