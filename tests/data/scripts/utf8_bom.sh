#!/bin/bash
#SBATCH --job-name=with-bom
#SBATCH --time=00:15:00
#SBATCH --cpus-per-task=2

echo "saved as UTF-8 with BOM"
sleep 1
