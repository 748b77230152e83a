#!/usr/bin/env python3
"""kill -9 under load, then the time until /healthz answers 200 (#20).

Usage: python3 benches/kill_restart.py LEADGATE_BINARY DATA_DIR [CAMPAIGN]
DATA_DIR should hold a big store (`leadgate demo --scale 1000000 --data DATA_DIR`). Starts
`leadgate serve` on 127.0.0.1:18201, posts forms to CAMPAIGN (default c0001) over 16
connections for 3 s, kills the server with SIGKILL, starts it again and prints how long
after the start /healthz first answered 200. Then run `leadgate check --data DATA_DIR`:
it must be clean and count every acknowledged post. Stops by itself.
"""
import http.client, os, signal, subprocess, sys, threading, time, urllib.request

BIN, DATA = sys.argv[1], sys.argv[2]
CAMPAIGN = sys.argv[3] if len(sys.argv) > 3 else "c0001"
PORT = 18201
env = dict(os.environ, LEADGATE_ADMIN_TOKEN="kill-token-0123456789abcdef")


def start():
    began = time.monotonic()
    server = subprocess.Popen(
        [BIN, "serve", "--listen", f"127.0.0.1:{PORT}", "--data", DATA,
         "--rate-limit", "off", "--global-rate-limit", "off"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while time.monotonic() - began < 30:
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{PORT}/healthz", timeout=1).status == 200:
                return server, time.monotonic() - began
        except Exception:
            pass
        time.sleep(0.005)
    server.kill()
    sys.exit("no /healthz 200 within 30 s")


server, took = start()
print(f"first start: /healthz 200 after {took * 1000:.0f} ms")
stop, acknowledged = False, [0]


def post(worker):
    connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=5)
    n = 0
    while not stop:
        n += 1
        try:
            connection.request(
                "POST", f"/f/{CAMPAIGN}",
                body=f"phone=1370{worker:03d}{n:04d}&name=k&consent=on&_token=k{worker}-{n}",
                headers={"Content-Type": "application/x-www-form-urlencoded"})
            answer = connection.getresponse()
            answer.read()
            if answer.status == 303:
                acknowledged[0] += 1
        except Exception:
            return


workers = [threading.Thread(target=post, args=(w,)) for w in range(16)]
for w in workers:
    w.start()
time.sleep(3)
os.kill(server.pid, signal.SIGKILL)
stop = True
for w in workers:
    w.join()
server.wait()
print(f"killed -9 under load after {acknowledged[0]} acknowledged posts")
server, took = start()
print(f"restart after kill -9: /healthz 200 after {took * 1000:.0f} ms")
server.terminate()
server.wait()
