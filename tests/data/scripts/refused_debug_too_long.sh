#!/bin/bash
#SBATCH -p debug
#SBATCH -t 1:00:00

sleep 1
