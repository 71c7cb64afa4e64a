-- Scenario 5: a referral offer by agency A (under the case's data-sharing consent) then its
-- acceptance by agency B, on a fresh case each time. Each wrk thread walks its own range of
-- cases; an offer's answer (Location) queues its acceptance, which the thread's next free
-- connection sends. wrk counts both requests.
dofile(os.getenv("BENCH_DIR") .. "/wrk/common.lua")
local to = os.getenv("BENCH_AGENCY_B")
local j = 0
local accepts, first, last = {}, 1, 0
local offer_headers = {["Authorization"] = "Bearer " .. token,
                       ["Content-Type"] = "application/json"}
local accept_headers = {["Authorization"] = "Bearer " .. token_b}
function request()
    if first <= last then
        local referral = accepts[first]
        accepts[first] = nil
        first = first + 1
        return wrk.format("POST", referral .. "/accept", accept_headers)
    end
    j = j + 1
    local k = fresh_case(j)
    local body = string.format('{"to_agency_id": "%s", "kind": "referral", ' ..
        '"purpose": "accommodation", "categories": ["identity"], ' ..
        '"legal_basis": "consent", "handling_code": "H2", ' ..
        '"consent_id": "00000000-0000-4000-a000-%012d"}', to, k)
    return wrk.format("POST", "/v1/cases/" .. case_id(k) .. "/referrals", offer_headers, body)
end
function response(status, headers, body)
    if status == 201 and headers["Location"] then
        last = last + 1
        accepts[last] = headers["Location"]
    end
end
