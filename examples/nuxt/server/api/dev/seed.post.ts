// POST /api/dev/seed [{count?: 1..10000}] -> {inserted}  (dev only)
export default defineApiHandler(async (event) => {
  requireDev()
  const count = seedCount(await readJson(event, true))
  const r = await usePool().query(SEED_SQL, [count])
  return { inserted: r.rowCount }
})
