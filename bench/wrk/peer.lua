-- --peer: the point read of a case summary through PostGraphile 4 (GraphQL over HTTP), a
-- random seeded case each time, as in scenario 2.
dofile(os.getenv("BENCH_DIR") .. "/wrk/common.lua")
local n = tonumber(os.getenv("BENCH_CASES"))
local headers = {["Content-Type"] = "application/json"}
local query = "query($id: UUID!) { caseById(id: $id) { id reference country sex ageBand " ..
    "citizenship exploitationForms identifiedMonth version createdAt updatedAt closedAt } }"
function init(args)
    math.randomseed(tid * 7919 + os.time())
end
function request()
    local body = string.format('{"query": "%s", "variables": {"id": "%s"}}', query,
        case_id(math.random(1, n)))
    return wrk.format("POST", "/graphql", headers, body)
end
