#!/bin/bash
# Nothing but a name: default partition (court) and its DefaultTime (1 hour).
#SBATCH --job-name=defaults

sleep 1
