// Package task is w3dag's durable task runner (DESIGN §4 task): effects that must happen
// after a change — expiring a pending upload at its deadline, computing a piece — are
// scheduled in the same transaction as the change (Schedule), so they exist exactly when
// the change commits, and nothing async is ever only in memory.
//
// A task is a self-issued invocation of the service, stored as a block, with an entry
// /<service>/task/<invocation CID> whose receipts record its states (the first, queued,
// ran the task's invocation; each later one a self-issued ClaimCommand, RenewCommand or
// FinishCommand invocation whose args name the entry and its new state, archived with its
// reply in the transaction that writes it, so that a replay of the archive writes it again
// with Apply): queued{attempts?, notBefore?} → running{lease, owner, attempts?} →
// done{receipt?} / failed{attempts, error}; a failed attempt goes back to queued with an
// exponential backoff, up to RunnerOptions.MaxAttempts attempts — past them while the
// handler marks its error KeepTrying (an effect that must happen once another party is
// back), or fails at once when it marks it Permanent. A due index in kv (taskq/<time BE8><CID>) holds every task that is
// queued (at its notBefore) or running (at its lease end), so a Runner finds due tasks
// and expired leases with one range scan, and a restarted process, or another process
// sharing the store, resumes them.
//
// A Runner claims due tasks with leases, runs the Handler registered for their command
// and records the outcome, only while it still holds the lease. Handlers receive the
// task's invocation and should make their effect through the engine with it (for
// instance Engine.Transition(ctx, inv, path, …)): the engine runs a task at most once and
// returns its stored receipt on a repeat, so a handler re-run after a lost lease or a
// crash does not apply its effect twice, and the invocation's receipt is verifiable like
// any other.
//
// Package task imports dag, internal/failrun, kv and ucan; it must not import server, ops or
// cmd.
package task
