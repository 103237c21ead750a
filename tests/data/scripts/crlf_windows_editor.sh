#!/bin/bash
#SBATCH --job-name=from-windows
#SBATCH --time=00:15:00
#SBATCH --ntasks=2

echo "edited in Notepad"
sleep 1
