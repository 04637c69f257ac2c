//! What a long command is doing, on stderr: a live line on a terminal, a plain line every
//! [`PLAIN_EVERY`] elsewhere (journald, CI), nothing with `--quiet`. Never on stdout, which
//! carries the JSON outputs.
use std::{
    io::IsTerminal as _,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often a plain progress line is printed when stderr is not a terminal.
pub const PLAIN_EVERY: Duration = Duration::from_secs(30);

/// Where progress goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Quiet,
    Terminal,
    Plain,
}

impl Mode {
    /// A live line on a terminal, plain lines elsewhere; none when quiet.
    pub fn for_stderr(quiet: bool) -> Self {
        if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Terminal
        } else {
            Mode::Plain
        }
    }
}

/// A recording's state at one moment, as its collector has it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Status {
    pub elapsed: Duration,
    /// Until `--for` ends; none without one, or before the unit is up.
    pub remaining: Option<Duration>,
    /// Events the collector has drained from the kernel so far.
    pub events: u64,
    /// Processes in the recorded cgroup now.
    pub processes: u64,
    /// Events lost so far (the kernel's count and those the collector could not use).
    pub lost: u64,
    /// What is under way besides recording (an exercise step, a wait for the unit).
    pub doing: Option<String>,
}

/// The counters of a recording that runs in another thread (`apply`'s), for that thread's
/// owner to show.
#[derive(Debug, Default)]
pub struct Live {
    pub events: AtomicU64,
    pub lost: AtomicU64,
    pub processes: AtomicU64,
}

impl Live {
    pub fn set(&self, events: u64, lost: u64, processes: u64) {
        self.events.store(events, Ordering::Relaxed);
        self.lost.store(lost, Ordering::Relaxed);
        self.processes.store(processes, Ordering::Relaxed);
    }
}

pub fn clock(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{:02}:{:02}", s / 60, s % 60)
    }
}

/// The words of a progress line, without the lost count (coloured apart on a terminal).
fn words(what: &str, s: &Status, rate: f64) -> String {
    let mut out = format!("{what}: {} elapsed", clock(s.elapsed));
    if let Some(left) = s.remaining {
        out.push_str(&format!(", {} left", clock(left)));
    }
    out.push_str(&format!(
        ", {} events ({rate:.0}/s), {} process{}",
        s.events,
        s.processes,
        if s.processes == 1 { "" } else { "es" }
    ));
    if let Some(doing) = &s.doing {
        out.push_str(&format!(", {doing}"));
    }
    out
}

/// The plain line printed every [`PLAIN_EVERY`] when stderr is not a terminal.
pub fn plain_line(what: &str, s: &Status, rate: f64) -> String {
    format!("learner: {}, {} lost", words(what, s, rate), s.lost)
}

/// Whether a plain line is due: the first after a full period, then one each period.
fn plain_due(printed: Option<Instant>, now: Instant, elapsed: Duration) -> bool {
    match printed {
        None => elapsed >= PLAIN_EVERY,
        Some(at) => now.duration_since(at) >= PLAIN_EVERY,
    }
}

/// Where plain lines go: stderr, or (in tests) anything that takes a line.
type Sink = Box<dyn FnMut(&str) + Send>;

/// One line of progress of any kind: redrawn in place on a terminal, printed every
/// [`PLAIN_EVERY`] elsewhere, never with [`Mode::Quiet`]. The line is a head and a tail; the
/// tail turns red on a terminal once it is an alarm (events lost).
pub struct Line {
    mode: Mode,
    bar: Option<ProgressBar>,
    /// When the last plain line was printed.
    printed: Option<Instant>,
    red: bool,
    sink: Sink,
}

fn style(red: bool) -> ProgressStyle {
    // The tail is the prefix, so that it alone can be red.
    let template = if red {
        "{spinner} {msg}{prefix:.red}"
    } else {
        "{spinner} {msg}{prefix}"
    };
    ProgressStyle::with_template(template).expect("a valid template")
}

impl Line {
    pub fn new(mode: Mode) -> Self {
        Self::with_sink(mode, Box::new(|line: &str| eprintln!("{line}")))
    }

    /// Plain lines (and [`Line::say`]'s, off a terminal) go to `sink` instead of stderr.
    pub fn with_sink(mode: Mode, sink: Sink) -> Self {
        let bar = (mode == Mode::Terminal).then(|| {
            // Hidden until the first update has something to say.
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
            bar.set_style(style(false));
            bar
        });
        Self {
            mode,
            bar,
            printed: None,
            red: false,
            sink,
        }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Shows `head` and `tail` (`elapsed`: since the work began, for the first plain line).
    /// `alarm`: the tail is bad news, red on a terminal from then on.
    pub fn show(&mut self, elapsed: Duration, head: &str, tail: &str, alarm: bool) {
        match self.mode {
            Mode::Quiet => {}
            Mode::Terminal => {
                let bar = self.bar.as_ref().expect("a terminal has a bar");
                if alarm && !self.red {
                    self.red = true;
                    bar.set_style(style(true));
                }
                bar.set_prefix(tail.to_owned());
                bar.set_message(head.to_owned());
                if bar.is_hidden() {
                    bar.set_draw_target(ProgressDrawTarget::stderr());
                }
                bar.tick();
            }
            Mode::Plain => {
                let now = Instant::now();
                if plain_due(self.printed, now, elapsed) {
                    self.printed = Some(now);
                    (self.sink)(&format!("{head}{tail}"));
                }
            }
        }
    }

    /// Prints a line of its own on stderr, above the live line.
    pub fn say(&mut self, line: &str) {
        match &self.bar {
            // A hidden bar would drop the line.
            Some(bar) if !bar.is_hidden() => bar.println(line),
            _ => (self.sink)(line),
        }
    }

    /// Removes the live line.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        self.finish();
    }
}

/// A recording's progress line.
pub struct Progress {
    what: String,
    line: Line,
    /// The previous update's time and event count, for the rate.
    previous: Option<(Instant, u64)>,
    rate: f64,
}

impl Progress {
    /// `what`: what is being done (`recording nginx.service`).
    pub fn new(what: impl Into<String>, mode: Mode) -> Self {
        Self::on(what, Line::new(mode))
    }

    /// On a line made elsewhere (one with a sink of its own).
    pub fn on(what: impl Into<String>, line: Line) -> Self {
        Self {
            what: what.into(),
            line,
            previous: None,
            rate: 0.0,
        }
    }

    pub fn update(&mut self, s: &Status) {
        let now = Instant::now();
        if let Some((then, events)) = self.previous {
            let secs = now.duration_since(then).as_secs_f64();
            if secs >= 0.5 {
                self.rate = s.events.saturating_sub(events) as f64 / secs;
                self.previous = Some((now, s.events));
            }
        } else {
            self.previous = Some((now, s.events));
        }
        let head = format!("learner: {}", words(&self.what, s, self.rate));
        self.line
            .show(s.elapsed, &head, &format!(", {} lost", s.lost), s.lost > 0);
    }

    /// Prints a line of its own on stderr, above the live line.
    pub fn say(&mut self, line: &str) {
        self.line.say(line);
    }

    /// Removes the live line.
    pub fn finish(&self) {
        self.line.finish();
    }
}

/// Calls a function each second from a thread of its own while the caller blocks (an
/// exercise step of `apply`, a step of the pack); stops when it is dropped.
pub struct Ticker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Ticker {
    pub fn every_second(mut tick: impl FnMut() + Send + 'static) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                tick();
                // Short sleeps: the step's end must not wait for a tick.
                for _ in 0..10 {
                    if stopping.load(Ordering::Relaxed) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
            // `tick` goes here, and with it a line it owns.
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }

    /// Shows `live`'s counters and `doing` on `progress`; the line goes when it is dropped.
    pub fn start(mut progress: Progress, doing: String, live: Option<Arc<Live>>) -> Self {
        let begun = Instant::now();
        Self::every_second(move || {
            let get = |c: fn(&Live) -> &AtomicU64| {
                live.as_ref().map_or(0, |l| c(l).load(Ordering::Relaxed))
            };
            progress.update(&Status {
                elapsed: begun.elapsed(),
                remaining: None,
                events: get(|l| &l.events),
                processes: get(|l| &l.processes),
                lost: get(|l| &l.lost),
                doing: Some(doing.clone()),
            });
        })
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_line_says_everything_asked_for() {
        let s = Status {
            elapsed: Duration::from_secs(95),
            remaining: Some(Duration::from_secs(3605)),
            events: 12_000,
            processes: 5,
            lost: 3,
            doing: Some("exercising restart (1/2)".into()),
        };
        assert_eq!(
            plain_line("recording nginx.service", &s, 400.0),
            "learner: recording nginx.service: 01:35 elapsed, 1:00:05 left, 12000 events (400/s), 5 processes, exercising restart (1/2), 3 lost"
        );
        let bare = Status {
            remaining: None,
            doing: None,
            ..s
        };
        assert_eq!(
            plain_line("checking x.service", &bare, 0.0),
            "learner: checking x.service: 01:35 elapsed, 12000 events (0/s), 5 processes, 3 lost"
        );
    }

    #[test]
    fn the_rate_comes_from_the_events_drained_between_updates() {
        let mut p = Progress::new("x", Mode::Quiet);
        p.update(&Status::default());
        p.previous = p.previous.map(|(at, n)| (at - Duration::from_secs(2), n));
        p.update(&Status {
            events: 1000,
            ..Status::default()
        });
        assert!((p.rate - 500.0).abs() < 10.0, "{}", p.rate);
    }

    #[test]
    fn plain_lines_come_every_30s() {
        let now = Instant::now();
        assert!(!plain_due(None, now, Duration::from_secs(29)));
        assert!(plain_due(None, now, Duration::from_secs(30)));
        let at = now - Duration::from_secs(29);
        assert!(!plain_due(Some(at), now, Duration::from_secs(100)));
        assert!(plain_due(
            Some(now - PLAIN_EVERY),
            now,
            Duration::from_secs(100)
        ));
    }

    #[test]
    fn a_ticker_reads_the_live_counters_and_stops_at_once() {
        let live = Arc::new(Live::default());
        live.set(10, 2, 3);
        let ticker = Ticker::start(
            Progress::new("applying to x", Mode::Quiet),
            "exercising restart (1/1)".into(),
            Some(live.clone()),
        );
        std::thread::sleep(Duration::from_millis(150));
        let started = Instant::now();
        drop(ticker);
        // The step's end is not held up by the ticker's one-second period.
        assert!(started.elapsed() < Duration::from_millis(500));
    }

    #[test]
    fn quiet_is_quiet_and_lines_are_not_a_terminal() {
        assert_eq!(Mode::for_stderr(true), Mode::Quiet);
        assert!(Progress::new("x", Mode::Plain).line.bar.is_none());
        assert!(Progress::new("x", Mode::Quiet).line.bar.is_none());
    }

    /// A line whose plain output is kept for the test to read.
    fn captured(mode: Mode) -> (Line, Arc<std::sync::Mutex<Vec<String>>>) {
        let lines = Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = lines.clone();
        let line = Line::with_sink(
            mode,
            Box::new(move |l: &str| kept.lock().unwrap().push(l.to_owned())),
        );
        (line, lines)
    }

    fn late(elapsed: u64) -> Status {
        Status {
            elapsed: Duration::from_secs(elapsed),
            remaining: Some(Duration::from_secs(60)),
            events: 7,
            processes: 1,
            lost: 2,
            doing: None,
        }
    }

    #[test]
    fn quiet_prints_nothing_however_long_it_runs() {
        let (line, lines) = captured(Mode::Quiet);
        let mut p = Progress::on("recording x.service", line);
        for elapsed in [0, 31, 95, 3600] {
            p.update(&late(elapsed));
        }
        p.finish();
        drop(p);
        assert!(lines.lock().unwrap().is_empty(), "{:?}", lines.lock());
    }

    #[test]
    fn off_a_terminal_one_plain_line_per_period() {
        let (line, lines) = captured(Mode::Plain);
        let mut p = Progress::on("recording x.service", line);
        // Nothing in the first period: a short command prints no progress at all.
        p.update(&late(29));
        assert!(lines.lock().unwrap().is_empty());
        p.update(&late(30));
        // The next one waits for a full period of wall time.
        p.update(&late(31));
        p.update(&late(59));
        let got = lines.lock().unwrap().clone();
        assert_eq!(
            got,
            [
                "learner: recording x.service: 00:30 elapsed, 01:00 left, 7 events (0/s), 1 process, 2 lost"
            ]
        );
    }

    #[test]
    fn a_ticker_shows_its_own_line() {
        let (line, lines) = captured(Mode::Plain);
        let mut line = Some(line);
        let ticker = Ticker::every_second(move || {
            if let Some(l) = line.as_mut() {
                // Past a period at once: the first tick prints.
                l.show(PLAIN_EVERY, "pack: nginx", ", step 1/9", false);
            }
        });
        std::thread::sleep(Duration::from_millis(200));
        drop(ticker);
        assert_eq!(lines.lock().unwrap().as_slice(), ["pack: nginx, step 1/9"]);
    }
}
