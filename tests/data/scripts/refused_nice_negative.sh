#!/bin/bash
#SBATCH --nice=-5
#SBATCH --time=00:10:00

sleep 1
