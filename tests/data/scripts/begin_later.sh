#!/bin/bash
#SBATCH --job-name=nightly-sync
#SBATCH --begin=now+1hour
#SBATCH --time=00:10:00

sleep 1
