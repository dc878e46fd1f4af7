// GET /api/schema/version -> {version, hash, tables}: the worker (versionUrl) wipes its replica
// when `version` changes.
export default defineApiHandler(async () => schemaVersion(usePool()))
