#!/bin/bash
#PBS -N old_torque_job
#PBS -l walltime=01:00:00
#SBATCH --time=01:00:00

sleep 1
