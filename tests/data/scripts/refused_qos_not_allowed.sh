#!/bin/bash
# The long QOS is not allowed on court.
#SBATCH --partition=court
#SBATCH --qos=long
#SBATCH --time=02:00:00

sleep 1
