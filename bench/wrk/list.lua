-- Scenario 3: GET /v1/cases?limit=50 (summaries only).
dofile(os.getenv("BENCH_DIR") .. "/wrk/common.lua")
wrk.path = "/v1/cases?limit=50"
wrk.headers["Authorization"] = "Bearer " .. token
