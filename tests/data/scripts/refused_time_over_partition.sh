#!/bin/bash
#SBATCH --partition=court
#SBATCH --time=06:00:00
#SBATCH --job-name=too-long-for-court

sleep 1
