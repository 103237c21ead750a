#!/bin/bash
#SBATCH -J hello
#SBATCH -t 00:10:00

echo "Hello from $(hostname) at $(date)"
sleep 1
