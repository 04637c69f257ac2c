//! The pack's progress line on stderr, drawn by learner's own (`util::progress`): per service,
//! the step running, the time spent in it and in all, and what is left. A live line on a
//! terminal, a plain line every 30 s elsewhere (CI), nothing with `--quiet`.
use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use learner::util::progress::{Line, Mode, Ticker, clock};

/// The steps of one service's verification, in the order the pack takes them.
pub const STEPS: &[&str] = &[
    "waiting for the machine's turn",
    "booting its guest",
    "recording its first start (load.sh setup, check)",
    "scoring it without a drop-in",
    "recording it under load, then through its life",
    "comparing, merging, generating",
    "applying the drop-in through its life",
    "scoring it with the drop-in",
    "a fresh host's first start under the drop-in",
];

/// Where the pack is.
#[derive(Debug, Clone)]
pub struct State {
    /// Services to verify in all.
    pub total: usize,
    /// The one under way, from 0.
    pub index: usize,
    pub service: String,
    /// Into [`STEPS`].
    pub step: usize,
    pub pack_since: Instant,
    pub service_since: Instant,
    /// What each service verified so far took, for the estimate of what is left.
    pub took: Vec<Duration>,
    /// Services verified at once (`pack --jobs`): the line follows the last one begun, and
    /// what is left goes that many at a time.
    pub jobs: usize,
}

/// The progress line at `now`.
pub fn line(s: &State, now: Instant) -> String {
    let in_it = now.saturating_duration_since(s.service_since);
    let mut out = format!(
        "pack: {}/{} {}: {} (step {}/{}), {} in it, {} in all",
        s.index + 1,
        s.total,
        s.service,
        STEPS[s.step],
        s.step + 1,
        STEPS.len(),
        clock(in_it),
        clock(now.saturating_duration_since(s.pack_since)),
    );
    let after = s.total.saturating_sub(s.index + 1);
    if after == 0 {
        out.push_str("; the last service");
        return out;
    }
    out.push_str(&format!(
        "; {after} more service{}",
        if after == 1 { "" } else { "s" }
    ));
    if !s.took.is_empty() {
        let each = s.took.iter().sum::<Duration>() / s.took.len() as u32;
        // This one's rest as if it took as long as the others, then the rest, `jobs` at once.
        let left = (each.saturating_sub(in_it) + each * after as u32) / s.jobs.max(1) as u32;
        out.push_str(&format!(
            ", about {} left at {} each",
            clock(left),
            clock(each)
        ));
    }
    out
}

/// The pack's line, redrawn each second by a thread of its own while a step blocks.
pub struct Pace {
    state: Arc<Mutex<Option<State>>>,
    line: Arc<Mutex<Line>>,
    ticker: Option<Ticker>,
}

impl Pace {
    pub fn start(total: usize, mode: Mode) -> Self {
        Self::on(total, Line::new(mode))
    }

    /// On a line made elsewhere (one with a sink of its own).
    pub fn on(total: usize, on: Line) -> Self {
        let state: Arc<Mutex<Option<State>>> = Arc::new(Mutex::new(None));
        let drawn = Arc::new(Mutex::new(on));
        let (shown, drawing) = (state.clone(), drawn.clone());
        let ticker = Ticker::every_second(move || {
            let now = Instant::now();
            let Some(text) = shown
                .lock()
                .unwrap()
                .as_ref()
                .map(|s| (now.saturating_duration_since(s.pack_since), line(s, now)))
            else {
                return;
            };
            drawing.lock().unwrap().show(text.0, &text.1, "", false);
        });
        let pace = Self {
            state,
            line: drawn,
            ticker: Some(ticker),
        };
        *pace.state.lock().unwrap() = Some(State {
            total,
            index: 0,
            service: String::new(),
            step: 0,
            pack_since: Instant::now(),
            service_since: Instant::now(),
            took: Vec::new(),
            jobs: 1,
        });
        pace
    }

    /// `jobs` services are verified at once from now on.
    pub fn at_once(&self, jobs: usize) {
        if let Some(s) = self.state.lock().unwrap().as_mut() {
            s.jobs = jobs.max(1);
        }
    }

    /// Service `index` (from 0) begins, waiting for its turn.
    pub fn service(&self, index: usize, name: &str) {
        if let Some(s) = self.state.lock().unwrap().as_mut() {
            s.index = index;
            s.service = name.to_owned();
            s.step = 0;
            s.service_since = Instant::now();
        }
    }

    /// Its step `step` of [`STEPS`] begins.
    pub fn step(&self, step: usize) {
        if let Some(s) = self.state.lock().unwrap().as_mut() {
            // The wait for other checkouts' tests is not the service's time.
            if s.step == 0 && step > 0 {
                s.service_since = Instant::now();
            }
            s.step = step.min(STEPS.len() - 1);
        }
    }

    /// The service was verified (or failed) after `took`.
    pub fn done(&self, took: Duration) {
        if let Some(s) = self.state.lock().unwrap().as_mut() {
            s.took.push(took);
        }
    }

    /// A line of the pack's own, above the live line.
    pub fn say(&self, text: &str) {
        self.line.lock().unwrap().say(text);
    }

    /// Takes the live line away (before the table goes to the terminal).
    pub fn finish(&mut self) {
        self.ticker = None;
        self.line.lock().unwrap().finish();
    }
}

impl Drop for Pace {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(step: usize, index: usize, took: &[u64]) -> (State, Instant) {
        let now = Instant::now();
        let s = State {
            total: 41,
            index,
            service: "nginx".into(),
            step,
            pack_since: now - Duration::from_secs(750),
            service_since: now - Duration::from_secs(70),
            took: took.iter().map(|&s| Duration::from_secs(s)).collect(),
            jobs: 1,
        };
        (s, now)
    }

    #[test]
    fn the_line_says_the_service_its_step_the_time_and_what_is_left() {
        let (s, now) = at(4, 2, &[100, 140]);
        assert_eq!(
            line(&s, now),
            "pack: 3/41 nginx: recording it under load, then through its life (step 5/9), 01:10 in it, 12:30 in all; 38 more services, about 1:16:50 left at 02:00 each"
        );
        // Before any service finished there is nothing to estimate from.
        let (s, now) = at(0, 0, &[]);
        assert_eq!(
            line(&s, now),
            "pack: 1/41 nginx: waiting for the machine's turn (step 1/9), 01:10 in it, 12:30 in all; 40 more services"
        );
        // Three at once: a third of the time.
        let (mut s, now) = at(4, 2, &[100, 140]);
        s.jobs = 3;
        assert!(
            line(&s, now).ends_with("; 38 more services, about 25:36 left at 02:00 each"),
            "{}",
            line(&s, now)
        );
        let (s, now) = at(8, 40, &[60]);
        assert!(line(&s, now).ends_with("(step 9/9), 01:10 in it, 12:30 in all; the last service"));
    }

    #[test]
    fn a_service_slower_than_the_others_leaves_only_the_rest() {
        let (mut s, now) = at(6, 39, &[60]);
        s.service_since = now - Duration::from_secs(90);
        assert!(
            line(&s, now).ends_with("; 1 more service, about 01:00 left at 01:00 each"),
            "{}",
            line(&s, now)
        );
    }

    /// What a pace in `mode` prints in its first second, a minute into the pack.
    fn printed(mode: Mode) -> Vec<String> {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let kept = lines.clone();
        let mut pace = Pace::on(
            2,
            Line::with_sink(
                mode,
                Box::new(move |l: &str| kept.lock().unwrap().push(l.to_owned())),
            ),
        );
        pace.service(0, "nginx");
        pace.step(1);
        if let Some(s) = pace.state.lock().unwrap().as_mut() {
            s.pack_since -= Duration::from_secs(60);
        }
        // Past the ticker's first and second ticks, whatever the machine's load.
        std::thread::sleep(Duration::from_millis(2500));
        let started = Instant::now();
        pace.finish();
        // The step's end is not held up by the ticker's period.
        assert!(started.elapsed() < Duration::from_millis(500));
        lines.lock().unwrap().clone()
    }

    #[test]
    fn off_a_terminal_a_plain_line_per_period_and_none_when_quiet() {
        let plain = printed(Mode::Plain);
        assert_eq!(plain.len(), 1, "{plain:?}");
        assert!(
            plain[0].starts_with("pack: 1/2 nginx: booting its guest (step 2/9), 00:0"),
            "{plain:?}"
        );
        assert!(
            plain[0].contains(", 01:0") && plain[0].ends_with(" in all; 1 more service"),
            "{plain:?}"
        );
        assert_eq!(printed(Mode::Quiet), Vec::<String>::new());
    }
}
