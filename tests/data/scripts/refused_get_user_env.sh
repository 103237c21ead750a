#!/bin/bash
#SBATCH --get-user-env
#SBATCH --time=00:05:00

env | sort
