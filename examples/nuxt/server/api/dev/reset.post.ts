// POST /api/dev/reset [{count?: 1..10000}] -> {ok, version, inserted, migrations}  (dev only):
// drop every table, apply the migrations, seed.
export default defineApiHandler(async (event) => {
  requireDev()
  return resetDatabase(seedCount(await readJson(event, true)))
})
