//! `quizrace play`: the terminal game around [`quizrace::play`]. With a
//! terminal it is a full-screen game (ratatui); with `--moves` or moves on
//! standard input it plays the list and prints the result, so levels can be
//! scripted and tested.

use std::io::{IsTerminal, Read};

use anyhow::{bail, Context, Result};
use quizrace::backend;
use quizrace::play::{self, Goal, Level, LEVELS};
use quizrace::sched::{self, Blocked, Choice, Refused, Replay, View};

use super::args::BackendArgs;
use super::table::{wrap, Style};
use super::Exit;

/// Runs `quizrace play`.
pub(crate) fn play(
    level: Option<&str>,
    moves: Option<&str>,
    backends: &BackendArgs,
) -> Result<Exit> {
    let interactive =
        moves.is_none() && std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let first = match level {
        Some(name) => play::level(name).with_context(|| {
            format!("unknown level `{name}`; the levels are 1 to {}: {}", LEVELS.len(), play::names())
        })?,
        None if interactive => &LEVELS[0],
        None => bail!(
            "name a level to play without a terminal, e.g. `quizrace play racy-rmw --moves 1,2,1,2`; \
             the levels are: {}",
            play::names()
        ),
    };
    if interactive {
        return interactive_game(first, level.is_none(), backends);
    }
    let text = match moves {
        Some(m) => m.to_string(),
        None => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("reading moves from standard input")?;
            s
        }
    };
    let moves = parse_moves(&text)?;
    scripted(first, &moves, backends)
}

/// `1,2,1,2` or `1 2 1 2` (also over several lines) into worker indices.
fn parse_moves(text: &str) -> Result<Vec<usize>> {
    let moves: Vec<usize> = text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .map(|t| match t.parse::<usize>() {
            Ok(n) if n >= 1 => Ok(n - 1),
            _ => bail!("a move is a worker number (1, 2, …), not `{t}`"),
        })
        .collect::<Result<_>>()?;
    if moves.is_empty() {
        bail!("the move list is empty: give the workers to move in order, e.g. --moves 1,2,1,2");
    }
    Ok(moves)
}

/// The back ends the level needs, configured from the flags (or their
/// defaults); Ctrl-C cleans up what a server-side level creates.
fn environment(level: &Level, backends: &BackendArgs) -> Result<backend::Env> {
    if level.id().networked() {
        super::interrupt::install()?;
    }
    backends.env_for(level.id())
}

fn scripted(level: &Level, moves: &[usize], backends: &BackendArgs) -> Result<Exit> {
    let env = environment(level, backends)?;
    let mut next = 0;
    let mut problem: Option<String> = None;
    let replay = sched::run(&level.setup(), &env, &mut |view, refused| {
        if let Some(r) = refused {
            problem = Some(format!("move {next}: {}", refusal(&r, view)));
            return Choice::Quit;
        }
        let Some(&w) = moves.get(next) else {
            problem = Some(format!(
                "the move list ended after {}, before the round did (waiting: {})",
                plural(moves.len(), "move"),
                waiting(view)
            ));
            return Choice::Quit;
        };
        next += 1;
        Choice::Go(w)
    })?;
    if let Some(p) = problem {
        bail!("{p}");
    }
    if next < moves.len() {
        bail!(
            "{} left over: every worker finished after move {next}",
            plural(moves.len() - next, "move")
        );
    }
    Ok(summary(level, &replay))
}

/// Why a chosen worker could not move, for the player.
fn refusal(r: &Refused, view: &View) -> String {
    let n = view.workers.len();
    match &r.why {
        None => format!(
            "there is no worker {} (this level has workers 1 to {n})",
            r.worker + 1
        ),
        Some(Blocked::Finished) => format!("worker {} has finished", r.worker + 1),
        Some(Blocked::Lock { holder }) => format!(
            "worker {} is blocked: worker {} holds the lock",
            r.worker + 1,
            holder + 1
        ),
        Some(Blocked::Cooperative { running }) => format!(
            "worker {} cannot run: the tasks share one thread and task {} keeps it until it \
             reaches an .await",
            r.worker + 1,
            running + 1
        ),
    }
}

fn waiting(view: &View) -> String {
    view.workers
        .iter()
        .enumerate()
        .filter_map(|(w, v)| v.next.map(|p| format!("worker {} to {}", w + 1, p.step)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Prints how the level ended; the exit code says whether its goal was
/// reached (0) or not (1).
fn summary(level: &Level, replay: &Replay) -> Exit {
    let style = Style::detect();
    let number = LEVELS
        .iter()
        .position(|l| std::ptr::eq(l, level))
        .unwrap_or(0)
        + 1;
    outln!(
        "{}",
        style.bold(&format!(
            "Level {number} of {}: {} on {} ({} workers)",
            LEVELS.len(),
            level.name(),
            level.runtime,
            level.workers
        ))
    );
    outln!("Goal: {}.\n", level.aim);
    outln!("{}\n", sched::lanes(&replay.events, level.workers, &[]));
    outln!("Moves: {}", play::moves(replay));
    let counts = replay
        .counts
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(" and ");
    outln!(
        "Count: {counts} of {} players; endQuizTime fired {} time{}.",
        replay.players,
        replay.fires(),
        if replay.fires() == 1 { "" } else { "s" }
    );
    let anomalies = replay.anomalies();
    for a in &anomalies {
        outln!("  {}", style.red(a));
    }
    let reached = level.reached(replay);
    match (level.goal, reached) {
        (Goal::Break, true) => outln!(
            "\n{}",
            wrap(&format!("{} {}", style.bold("You broke it."), level.lesson))
        ),
        (Goal::Break, false) => outln!(
            "\n{}",
            wrap(
                "No anomaly this time: the round ended correctly. Look for the gap between \
                 two steps of one worker and put the other worker in it."
            )
        ),
        (Goal::Hold, true) => outln!(
            "\n{}",
            wrap(&format!("{} {}", style.bold("It held."), level.lesson))
        ),
        (Goal::Hold, false) if replay.quit => outln!("\nYou stopped before the end."),
        (Goal::Hold, false) => outln!(
            "\n{}",
            style.red("A correct strategy broke: this is a bug in quizrace, please report it.")
        ),
    }
    if reached {
        Exit::Done
    } else {
        Exit::GoalMissed
    }
}

/// The full-screen game: one level, then the next ones when `more`.
fn interactive_game(first: &'static Level, more: bool, backends: &BackendArgs) -> Result<Exit> {
    let mut index = LEVELS
        .iter()
        .position(|l| std::ptr::eq(l, first))
        .unwrap_or(0);
    loop {
        let level = &LEVELS[index];
        let env = environment(level, backends)?;
        let replay = tui::play_level(level, index, &env)?;
        let exit = summary(level, &replay);
        if replay.quit || !more || index + 1 == LEVELS.len() {
            return Ok(exit);
        }
        index += 1;
        outln!(
            "\nPress Enter for level {} ({}), or q and Enter to stop.",
            index + 1,
            LEVELS[index].name()
        );
        let mut line = String::new();
        if std::io::stdin().read_line(&mut line).unwrap_or(0) == 0 || line.trim() == "q" {
            return Ok(exit);
        }
    }
}

mod tui {
    //! The screen. Every terminal error ends the level as a quit; the
    //! terminal is restored on every exit, also on a panic (ratatui's hook).

    use std::time::Duration;

    use anyhow::Result;
    use quizrace::play::{Level, LEVELS};
    use quizrace::sched::{self, Choice, Replay, View};
    use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
    use ratatui::layout::{Constraint, Layout};
    use ratatui::style::{Modifier, Style};
    use ratatui::text::{Line, Span};
    use ratatui::widgets::{Block, Paragraph, Wrap};
    use ratatui::Frame;

    pub(super) fn play_level(
        level: &Level,
        index: usize,
        env: &quizrace::backend::Env,
    ) -> Result<Replay> {
        let mut terminal = ratatui::try_init()?;
        let mut message =
            String::from("Press a worker's number to let it take its next step; q quits.");
        let result = sched::run(&level.setup(), env, &mut |view, refused| {
            if let Some(r) = refused {
                message = super::refusal(&r, view);
            }
            loop {
                if terminal
                    .draw(|f| draw(f, level, index, view, &message))
                    .is_err()
                {
                    return Choice::Quit;
                }
                // Poll so that a closed terminal (EOF, error) ends the game.
                match event::poll(Duration::from_millis(250)) {
                    Ok(false) => continue,
                    Ok(true) => {}
                    Err(_) => return Choice::Quit,
                }
                match event::read() {
                    Ok(Event::Key(k)) if k.kind == KeyEventKind::Press => match k.code {
                        KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => {
                            return Choice::Quit
                        }
                        KeyCode::Char('q') | KeyCode::Esc => return Choice::Quit,
                        KeyCode::Char(c) if c.is_ascii_digit() && c != '0' => {
                            message.clear();
                            return Choice::Go(c as usize - '1' as usize);
                        }
                        _ => message = "Keys: 1-9 move that worker, q quits.".into(),
                    },
                    Ok(_) => {} // resize, mouse, focus: redraw
                    Err(_) => return Choice::Quit,
                }
            }
        });
        ratatui::restore();
        Ok(result?)
    }

    fn draw(f: &mut Frame<'_>, level: &Level, index: usize, view: &View, message: &str) {
        let bold = Style::default().add_modifier(Modifier::BOLD);
        let n = view.workers.len();
        let [head, workers, shared, log, foot] = Layout::vertical([
            Constraint::Length(5),
            Constraint::Length(7),
            Constraint::Length(3),
            Constraint::Min(3),
            Constraint::Length(3),
        ])
        .areas(f.area());
        let title = format!(
            " quizrace play · level {} of {} · {} on {} ",
            index + 1,
            LEVELS.len(),
            level.name(),
            level.runtime
        );
        f.render_widget(
            Paragraph::new(vec![
                Line::from(vec![Span::styled("Goal: ", bold), Span::raw(level.aim)]),
                Line::from(level.intro),
            ])
            .wrap(Wrap { trim: true })
            .block(Block::bordered().title(title)),
            head,
        );
        let columns = Layout::horizontal(vec![Constraint::Ratio(1, n as u32); n]).split(workers);
        for (w, wv) in view.workers.iter().enumerate() {
            let next = match (&wv.next, &wv.blocked) {
                (None, _) => "finished".to_string(),
                (Some(p), _) => p.step.to_string(),
            };
            let state = match &wv.blocked {
                None => Span::styled("can move", Style::default().add_modifier(Modifier::BOLD)),
                Some(sched::Blocked::Finished) => Span::raw("done"),
                Some(sched::Blocked::Lock { holder }) => {
                    Span::raw(format!("blocked: {} holds the lock", holder + 1))
                }
                Some(sched::Blocked::Cooperative { running }) => {
                    Span::raw(format!("waits: {} has the thread", running + 1))
                }
            };
            let lines = vec![
                Line::from(vec![Span::raw("next:  "), Span::raw(next)]),
                Line::from(vec![
                    Span::raw("read:  "),
                    Span::raw(wv.read.map_or("—".to_string(), |v| v.to_string())),
                ]),
                Line::from(format!(
                    "lock:  {}",
                    if wv.holds_lock { "held" } else { "—" }
                )),
                Line::from(format!("steps: {}", wv.steps)),
                Line::from(state),
            ];
            f.render_widget(
                Paragraph::new(lines).block(Block::bordered().title(format!(" worker {} ", w + 1))),
                columns[w],
            );
        }
        let fires = view
            .events
            .iter()
            .filter(|e| e.op == quizrace::strategy::TraceOp::Fire)
            .count();
        let counts = view
            .counts
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(" | ");
        f.render_widget(
            Paragraph::new(format!(
                "count = {counts} of {} players · endQuizTime fired {fires} time{}",
                n,
                if fires == 1 { "" } else { "s" }
            ))
            .block(Block::bordered().title(if view.counts.len() > 1 {
                " counters (one per process) "
            } else {
                " shared counter "
            })),
            shared,
        );
        let height = log.height.saturating_sub(3) as usize;
        let text = sched::lanes(&view.events, n, &[]);
        let lines: Vec<&str> = text.lines().collect();
        let shown: Vec<Line<'_>> = std::iter::once(lines[0])
            .chain(
                lines[1..]
                    .iter()
                    .copied()
                    .skip(lines.len().saturating_sub(1 + height)),
            )
            .map(Line::from)
            .collect();
        f.render_widget(
            Paragraph::new(shown).block(Block::bordered().title(" steps so far ")),
            log,
        );
        f.render_widget(
            Paragraph::new(message.to_string())
                .wrap(Wrap { trim: true })
                .block(Block::bordered().title(format!(" keys: 1-{n} move a worker · q quit "))),
            foot,
        );
    }
}

/// `1 move`, `2 moves`.
fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
