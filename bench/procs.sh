# bench/procs.sh — sourced by the benchmark scripts: the processes a script
# starts, so that every one is stopped on the way out, whatever happens.
#
#   started_pids+=("$pid")   after starting one
#   forget_pid PID           once it was waited for (its pid may be reused)
#   stop_started_pids        from the script's EXIT trap

started_pids=()

# A process waited for leaves the list, so clean-up never signals a pid the
# system may have handed to someone else since.
forget_pid() { # PID
    local pid kept=()
    for pid in "${started_pids[@]}"; do [ "$pid" = "$1" ] || kept+=("$pid"); done
    started_pids=("${kept[@]}")
}

# TERM, a moment to run exit paths (the shim's flush), then KILL.
stop_started_pids() {
    local pid
    for pid in "${started_pids[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            sleep 0.2
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
}
