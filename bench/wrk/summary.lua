-- --peer, trm's side: GET /v1/cases/{id}/summary of a random seeded case (the summary alone:
-- no personal data opened, no access-log entry), the read PostGraphile's caseById matches.
dofile(os.getenv("BENCH_DIR") .. "/wrk/common.lua")
local n = tonumber(os.getenv("BENCH_CASES"))
local headers = {["Authorization"] = "Bearer " .. token}
function init(args)
    math.randomseed(tid * 7919 + os.time())
end
function request()
    return wrk.format("GET", "/v1/cases/" .. case_id(math.random(1, n)) .. "/summary", headers)
end
