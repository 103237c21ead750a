#!/bin/bash
#SBATCH --cpus-per=4
#SBATCH --time=00:10:00

sleep 1
