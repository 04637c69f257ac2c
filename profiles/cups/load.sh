#!/bin/sh
# CUPS 2.4 as Debian packages it: cupsd -l, started on demand by cups.socket
# (/run/cups/cups.sock), run inside the pack's guest systemd. Jobs go through the real filter
# chain (texttopdf, pdftopdf, as user lp) to a generic PDF printer whose device is a file.
#   setup: FileDevice Yes (cups-files.conf), cups.socket started (cupsd is not: the first
#          client starts it), a queue `pack` (cups-filters' Generic PDF Printer PPD) printing
#          to /var/spool/pack-printer/out.pdf.
#   load:  6 jobs (text and a PDF), one held and cancelled, lpstat -t and -o, a second queue
#          added and deleted, pages of the web interface on localhost:631.
#   check: lpstat answers through the socket, a fresh job to `pack` is completed within 30 s
#          and the output file is that job's PDF (PJL header with its name, %PDF-, %%EOF),
#          and the queue is enabled.
set -eu
out=/var/spool/pack-printer/out.pdf
up() {
    i=0
    until lpstat -r 2>/dev/null | grep -q 'is running'; do
        i=$((i + 1)); [ $i -lt 50 ] || return 1; sleep 0.2
    done
}
# Prints file $1 to queue pack, waits for the job to be completed.
job() {
    id=$(lp -d pack -t "$2" "$1" | sed -n 's/^request id is \(pack-[0-9]*\).*/\1/p')
    [ -n "$id" ] || { echo "lp gave no job id" >&2; return 1; }
    i=0
    until lpstat -W completed -o pack | grep -q "^$id "; do
        i=$((i + 1)); [ $i -lt 150 ] || { echo "job $id not completed: $(lpstat -o pack)" >&2; return 1; }; sleep 0.2
    done
}
case "${1:-}" in
setup)
    # Not running yet in a fresh guest; stopped should a boot have started it.
    systemctl stop cups.service
    sed -i 's/^#\?FileDevice.*/FileDevice Yes/' /etc/cups/cups-files.conf
    grep -q '^FileDevice Yes' /etc/cups/cups-files.conf
    mkdir -p /var/spool/pack-printer
    systemctl start cups.socket
    up
    lpadmin -p pack -E -v "file://$out" -P /usr/share/ppd/cupsfilters/Generic-PDF_Printer-PDF.ppd
    ;;
load)
    up
    for i in 1 2 3 4 5; do job /etc/os-release "load-$i" || true; done
    [ -s $out ] && { sed -n '/^%PDF-/,/^%%EOF/p' $out >/tmp/pack.pdf; job /tmp/pack.pdf load-pdf || true; }
    id=$(lp -d pack -H hold /etc/hostname | sed -n 's/^request id is \(pack-[0-9]*\).*/\1/p') || true
    [ -z "$id" ] || cancel "$id" || true
    lpstat -t >/dev/null || true
    lpstat -o pack >/dev/null || true
    lpadmin -p pack2 -E -v file:///dev/null -P /usr/share/ppd/cupsfilters/Generic-PDF_Printer-PDF.ppd || true
    lpadmin -x pack2 || true
    curl -s -o /dev/null --max-time 2 http://localhost:631/ || true
    curl -s -o /dev/null --max-time 2 http://localhost:631/printers/pack || true
    curl -s -o /dev/null --max-time 2 http://localhost:631/no-such-page || true
    ;;
check)
    up
    rm -f $out
    name=check-$(date +%s%N)
    job /etc/os-release "$name"
    # The PDF printer's output: a PJL header naming the job, then the PDF.
    grep -aq "JOB NAME = \"$name\"" $out && grep -aq '^%PDF-' $out && grep -aq '^%%EOF' $out || {
        echo "$out is not this job's PDF: $(ls -l $out 2>&1)" >&2
        head -c 128 $out | od -c | head -n 8 >&2 || true
        grep '\[Job' /var/log/cups/error_log | tail -n 40 >&2 || true
        exit 1
    }
    lpstat -p pack | grep -q enabled
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
