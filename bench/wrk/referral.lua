-- Scenario 5: a referral offer by agency A (under the case's data-sharing consent) then its
-- acceptance by agency B, on a fresh case each time; one connection per thread, so the
-- thread's state is the connection's. wrk counts both requests.
dofile(os.getenv("BENCH_DIR") .. "/wrk/common.lua")
local base = tonumber(os.getenv("BENCH_BASE"))
local per = tonumber(os.getenv("BENCH_PER"))
local to = os.getenv("BENCH_AGENCY_B")
local j = 0
local pending = nil
local offer_headers = {["Authorization"] = "Bearer " .. token,
                       ["Content-Type"] = "application/json"}
local accept_headers = {["Authorization"] = "Bearer " .. token_b}
function request()
    if pending then
        return wrk.format("POST", pending .. "/accept", accept_headers)
    end
    j = j + 1
    local k = base + tid * per + (j % per)
    local body = string.format('{"to_agency_id": "%s", "kind": "referral", ' ..
        '"purpose": "Shelter placement", "categories": ["identity"], ' ..
        '"legal_basis": "consent", "handling_code": "H2", ' ..
        '"consent_id": "00000000-0000-4000-a000-%012d"}', to, k)
    return wrk.format("POST", "/v1/cases/" .. case_id(k) .. "/referrals", offer_headers, body)
end
function response(status, headers, body)
    if pending then
        pending = nil
    elseif status == 201 then
        pending = headers["Location"]
    end
end
