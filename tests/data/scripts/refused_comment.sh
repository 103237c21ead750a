#!/bin/bash
#SBATCH --comment="run 3 of the Re=5000 campaign"
#SBATCH --time=00:05:00

sleep 1
