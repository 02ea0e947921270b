#!/usr/bin/python3
"""Fernet tokens exactly as the Python backend makes them (`cryptography.fernet`).

    fernet.py key             prints a new key
    fernet.py encrypt KEY     reads a password on stdin, prints its token
    fernet.py decrypt KEY     reads a token on stdin, prints the password

Secrets travel on stdin so they never show in a process list.
"""
import sys

from cryptography.fernet import Fernet

command = sys.argv[1]
if command == "key":
    print(Fernet.generate_key().decode())
elif command == "encrypt":
    print(Fernet(sys.argv[2].encode()).encrypt(sys.stdin.read().encode()).decode())
elif command == "decrypt":
    sys.stdout.write(Fernet(sys.argv[2].encode()).decrypt(sys.stdin.read().strip().encode()).decode())
else:
    sys.exit(f"unknown command {command!r}")
