#!/bin/bash
# Copied from Myria: tcourt does not exist on this cluster.
#SBATCH --partition=tcourt
#SBATCH --time=00:10:00

sleep 1
