-- Scenario 2: GET /v1/cases/{id} of a random seeded case (every category decrypted); with
-- BENCH_SUFFIX=/summary (bench/run --peer), the summary alone.
dofile(os.getenv("BENCH_DIR") .. "/wrk/common.lua")
local n = tonumber(os.getenv("BENCH_CASES"))
local suffix = os.getenv("BENCH_SUFFIX") or ""
local headers = {["Authorization"] = "Bearer " .. token}
function init(args)
    math.randomseed(tid * 7919 + os.time())
end
function request()
    return wrk.format("GET", "/v1/cases/" .. case_id(math.random(1, n)) .. suffix, headers)
end
