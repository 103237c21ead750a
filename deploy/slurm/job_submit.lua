--[[
myriagate: job_submit.lua for slurmctld (JobSubmitPlugins=lua), beside slurm.conf.

Why: the gateway holds a job's worst-case cost (its CPUs, memory, nodes, GPUs, time limit,
partition, account) before the job reaches Slurm, then tags it with the comment "mg:<uuid>".
A login could then widen its own pending gateway job with `scontrol update` (NumCPUs=16,
MinMemoryNode=..., Partition=..., Account=..., Gres=gpu:1, ...) and run far more than was held
(docs/allocations.md, "a job's shape changed after its hold").

What it does:
  * slurm_job_submit: nothing. Every submission (the gateway's sbatch, salloc, srun, arrays,
    jobs run outside the gateway) passes unchanged.
  * slurm_job_modify, for a modify_uid that is not an operator (uid 0, the SlurmUser, the
    OPERATOR_* lists below), on a job whose comment starts with "mg:": refuses any change of
    CPUs, tasks, CPUs per task, nodes, memory (per node or per CPU), GRES/TRES (GPUs), sockets,
    cores, threads, sharing, contiguity, node list, partition, account, QOS, licenses, and any
    raise of the time limit. Lowering the time limit, hold/release, priority/nice, name,
    dependency, begin time and the other fields pass. Lowering CPUs, memory etc. is refused
    too (the gateway's record of the job would no longer match it): cancel and resubmit.
  * It refuses changing or removing the comment of a gateway job, and setting a comment that
    starts with "mg:" on any job (a forged gateway tag).
  * Refusals return ESLURM_ACCOUNTING_POLICY (shape) or ESLURM_ACCESS_DENIED (comment), so
    `scontrol update` prints "Job violates accounting/QOS policy ..." or "Access/permission
    denied"; the reason is written to slurmctld's log. slurm.log_user reaches the login from
    Slurm 23.02 on; Slurm 22.05 discards it in job_modify (with an error line in the log).

Field names are those of Slurm 22.05's job_submit/lua (src/plugins/job_submit/lua/
job_submit_lua.c, _get_job_req_field; the job record: src/lua/slurm_lua.c). A misspelt name
reads nil: every numeric field checked here is a number in 22.05, so a nil one refuses the
change (fail closed) and logs an error instead of letting it through.

Edit the operator lists below for the site; slurmctld re-reads this file when it changes.
Check the syntax before installing it: `luac5.1 -p job_submit.lua` (a broken script stops
slurmctld from starting).
]]

-- Who may still change gateway jobs: these uids, and these logins (looked up in /etc/passwd
-- when the script loads; a site whose operators are in LDAP lists their uids instead).
-- Slurm's own AdminLevel=Operator/Admin users are NOT known here: list them.
local OPERATOR_UIDS = { 0 }
local OPERATOR_LOGINS = { "slurm" }

local TAG_PREFIX = "mg:"

-- Numeric job_desc fields (22.05 names): set when not NO_VAL/NO_VAL16/NO_VAL64.
local GUARDED_NUMBERS = {
    { "min_cpus", "CPUs" },
    { "max_cpus", "CPUs" },
    { "pn_min_cpus", "CPUs per node" },
    { "num_tasks", "tasks" },
    { "cpus_per_task", "CPUs per task" },
    { "ntasks_per_node", "tasks per node" },
    { "ntasks_per_socket", "tasks per socket" },
    { "ntasks_per_core", "tasks per core" },
    { "ntasks_per_tres", "tasks per GPU" },
    { "min_nodes", "nodes" },
    { "max_nodes", "nodes" },
    { "pn_min_memory", "memory" },
    { "sockets_per_node", "sockets per node" },
    { "cores_per_socket", "cores per socket" },
    { "threads_per_core", "threads per core" },
    { "shared", "sharing (exclusive)" },
    { "contiguous", "contiguous nodes" },
}

-- String job_desc fields: set when not nil.
local GUARDED_STRINGS = {
    { "partition", "partition" },
    { "account", "account" },
    { "qos", "QOS" },
    { "licenses", "licenses" },
    { "req_nodes", "node list" },
    { "tres_per_job", "GPUs/TRES per job" },
    { "tres_per_node", "GPUs/GRES per node" },
    { "tres_per_socket", "GPUs/TRES per socket" },
    { "tres_per_task", "GPUs/TRES per task" },
    { "cpus_per_tres", "CPUs per GPU" },
    { "mem_per_tres", "memory per GPU" },
}

local operator_uids = {}

local function load_operators()
    for _, uid in ipairs(OPERATOR_UIDS) do
        operator_uids[uid] = true
    end
    local wanted = {}
    for _, login in ipairs(OPERATOR_LOGINS) do
        wanted[login] = true
    end
    local passwd = io.open("/etc/passwd", "r")
    if passwd == nil then
        slurm.log_error("myriagate job_submit.lua: /etc/passwd unreadable: only uids %s are operators",
            table.concat(OPERATOR_UIDS, ","))
        return
    end
    for line in passwd:lines() do
        local login, uid = string.match(line, "^([^:]*):[^:]*:(%d+):")
        if login ~= nil and wanted[login] then
            operator_uids[tonumber(uid)] = true
            wanted[login] = nil
        end
    end
    passwd:close()
    for login, _ in pairs(wanted) do
        slurm.log_error("myriagate job_submit.lua: operator login %s not in /etc/passwd", login)
    end
end

load_operators()

local function is_set_number(value)
    return value ~= slurm.NO_VAL and value ~= slurm.NO_VAL16 and value ~= slurm.NO_VAL64
end

local function is_gateway_tag(comment)
    if comment == nil then
        return false
    end
    local trimmed = string.lower(string.match(comment, "^%s*(.-)$"))
    return string.sub(trimmed, 1, string.len(TAG_PREFIX)) == TAG_PREFIX
end

-- What this change would alter of a gateway job's cost or charge: a list of names, empty if none.
local function cost_changes(job_desc, job_rec)
    local changed = {}
    for _, field in ipairs(GUARDED_NUMBERS) do
        local value = job_desc[field[1]]
        if type(value) ~= "number" then
            slurm.log_error("myriagate job_submit.lua: job_desc.%s is not a number (%s): refusing",
                field[1], tostring(value))
            table.insert(changed, field[2] .. " (unreadable)")
        elseif is_set_number(value) then
            table.insert(changed, field[2])
        end
    end
    for _, field in ipairs(GUARDED_STRINGS) do
        if job_desc[field[1]] ~= nil then
            table.insert(changed, field[2])
        end
    end
    local limit = job_desc.time_limit
    if type(limit) ~= "number" then
        table.insert(changed, "time limit (unreadable)")
    elseif limit ~= slurm.NO_VAL and (type(job_rec.time_limit) ~= "number" or limit > job_rec.time_limit) then
        table.insert(changed, "time limit (raised)")
    end
    return changed
end

local function refuse(code, job_rec, modify_uid, what)
    local en = string.format("job %s was submitted through myriagate, which held its cost: %s "
        .. "cannot be changed with scontrol; cancel it and submit again through the gateway",
        tostring(job_rec.job_id), what)
    local fr = string.format("la tâche %s a été soumise par myriagate, qui a réservé son coût : "
        .. "ceci ne peut pas être modifié avec scontrol (%s) ; annulez-la et soumettez-la de nouveau "
        .. "par la passerelle", tostring(job_rec.job_id), what)
    slurm.log_info("myriagate job_submit.lua: refused uid %s: %s", tostring(modify_uid), en)
    slurm.log_user("%s / %s", en, fr)
    return code
end

function slurm_job_submit(job_desc, part_list, submit_uid)
    return slurm.SUCCESS
end

local function guard(job_desc, job_rec, modify_uid)
    local tagged = is_gateway_tag(job_rec.comment)
    local comment = job_desc.comment
    if comment ~= nil then
        if tagged and comment ~= job_rec.comment then
            return refuse(slurm.ESLURM_ACCESS_DENIED, job_rec, modify_uid, "its comment (the gateway's tag)")
        end
        if not tagged and is_gateway_tag(comment) then
            slurm.log_info("myriagate job_submit.lua: refused uid %s: job %s: a comment starting with %s "
                .. "is the gateway's tag", tostring(modify_uid), tostring(job_rec.job_id), TAG_PREFIX)
            slurm.log_user("a comment starting with %s is reserved for myriagate's jobs / "
                .. "un commentaire commençant par %s est réservé aux tâches de myriagate", TAG_PREFIX, TAG_PREFIX)
            return slurm.ESLURM_ACCESS_DENIED
        end
    end
    if not tagged then
        return slurm.SUCCESS
    end
    local changed = cost_changes(job_desc, job_rec)
    if #changed > 0 then
        return refuse(slurm.ESLURM_ACCOUNTING_POLICY, job_rec, modify_uid, table.concat(changed, ", "))
    end
    return slurm.SUCCESS
end

function slurm_job_modify(job_desc, job_rec, part_list, modify_uid)
    if operator_uids[modify_uid] then
        return slurm.SUCCESS
    end
    -- A Lua error here would let the change through (job_submit/lua then returns success):
    -- catch it and refuse instead.
    local ok, rc = pcall(guard, job_desc, job_rec, modify_uid)
    if not ok then
        slurm.log_error("myriagate job_submit.lua: error checking a change by uid %s, refused: %s",
            tostring(modify_uid), tostring(rc))
        return slurm.ESLURM_ACCESS_DENIED
    end
    return rc
end

return slurm.SUCCESS
