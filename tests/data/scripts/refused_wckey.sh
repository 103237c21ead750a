#!/bin/bash
#SBATCH --wckey=anr-turbulence
#SBATCH --time=00:05:00

sleep 1
