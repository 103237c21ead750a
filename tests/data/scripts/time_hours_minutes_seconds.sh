#!/bin/bash
#SBATCH --job-name=t-hh-mm-ss
#SBATCH --time=03:15:00

sleep 1
