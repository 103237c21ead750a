#!/bin/bash
#SBATCH --job-name=ckpt
#SBATCH --time=04:00:00
#SBATCH --signal=B:USR1@60
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=4

# The solver writes a restart file when the batch shell receives USR1, a minute before the end.
on_usr1() { echo "USR1: writing restart"; kill -USR1 "$SOLVER" 2>/dev/null || true; }
trap on_usr1 USR1
sleep 1 &
SOLVER=$!
wait "$SOLVER"
