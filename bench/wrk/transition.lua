-- Scenario 4: POST /v1/cases/{id}/transitions start_reflection (guarded) on a fresh case per
-- request: each wrk thread walks its own range of seeded cases (at version 1).
dofile(os.getenv("BENCH_DIR") .. "/wrk/common.lua")
local j = 0
local headers = {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json",
                 ["If-Match"] = '"1"'}
local body = '{"transition": "start_reflection"}'
function request()
    j = j + 1
    local k = fresh_case(j)
    return wrk.format("POST", "/v1/cases/" .. case_id(k) .. "/transitions", headers, body)
end
