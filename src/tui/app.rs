//! UI state and its update: a key, looked up in the current tab's key map (or taken as text in
//! the input mode), becomes at most one engine command (`Effect::Send`). Drawing reads this state
//! only; nothing here awaits or locks.
use super::keys::{Scope, action_for};
pub use super::modal::{InputKind, Modal};
use super::theme::Theme;
use crate::engine::BrickHistory;
use crate::engine::command::DeskCommand;
use crate::engine::model::{BrickSize, EntrySizeMode, TradeMode};
use crate::engine::runs::Lifecycle;
use crate::engine::state::Brick;
use crate::engine::store::DeskEvent;
use crate::engine::view::{AssetView, StateView};
use crossterm::event::KeyEvent;
use serde_json::Value;

/// What the console shows, fetched from the engine (local) or the server (attached).
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub state: StateView,
    /// Every asset's bricks, in the desk's order.
    pub bricks: Vec<BrickHistory>,
    pub events: Vec<DeskEvent>,
    /// Parity runs, newest first (fetched while the Runs tab is open).
    pub runs: Vec<crate::engine::runs::RunSummary>,
    /// The selected run in full.
    pub run: Option<crate::engine::runs::RunStatus>,
    /// Finished backtests, newest first (fetched while the Backtests tab is open).
    pub backtests: Vec<crate::services::backtest::store::Summary>,
    /// The selected backtest (seed 002's detail), when it was fetched this time, or why it
    /// could not be.
    pub backtest: Option<Value>,
    pub backtest_error: Option<String>,
    /// Whether this fetch asked for the backtest list (an empty list then means none).
    pub backtests_listed: bool,
    /// Datasets, measurements and jobs (fetched while the Research tab is open).
    pub research: Option<ResearchView>,
}

impl Snapshot {
    /// An asset's bricks of one size, oldest first (none when the fetch did not bring them).
    pub fn bricks_of(&self, asset: &str, size: BrickSize) -> &[Brick] {
        self.bricks
            .iter()
            .find(|h| h.asset == asset)
            .and_then(|h| h.bricks.get(size.name()))
            .map_or(&[], Vec::as_slice)
    }
}

/// The Research tab's data: seed 003's datasets, the measurements, the newest jobs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResearchView {
    pub datasets: Vec<Value>,
    pub measurements: Vec<crate::services::research::measure::MeasurementInfo>,
    pub jobs: Vec<crate::services::research::store::Job>,
    /// Why they could not be fetched this time (research auth the console lacks, say).
    pub error: Option<String>,
}

/// What to fetch about runs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunsWanted {
    pub list: bool,
    pub detail: Option<String>,
    /// The backtest list, and the id of the selected one when the console does not hold it yet.
    pub backtests: bool,
    pub backtest: Option<i64>,
    /// The Research tab's datasets, measurements and jobs.
    pub research: bool,
}

/// A parity-run command from the Runs tab.
#[derive(Debug, Clone, PartialEq)]
pub enum RunCommand {
    /// Play a run's request again as a live run.
    Live(Box<crate::engine::runs::RunRequest>),
    Stop(String),
    /// Cancel a research job (asked first).
    CancelJob(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tab {
    Desk,
    Runs,
    Backtests,
    Research,
    Chat,
    Log,
}

impl Tab {
    pub const ALL: [Tab; 6] = [
        Tab::Desk,
        Tab::Runs,
        Tab::Backtests,
        Tab::Research,
        Tab::Chat,
        Tab::Log,
    ];
    pub fn title(self) -> &'static str {
        match self {
            Tab::Desk => "Desk",
            Tab::Runs => "Runs",
            Tab::Backtests => "Backtests",
            Tab::Research => "Research",
            Tab::Chat => "Chat",
            Tab::Log => "Log",
        }
    }
}

/// One pane full-screen, for tmux dashboards (`--view`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Desk,
    Renko,
    Positions,
    Orders,
    Log,
}

impl View {
    pub fn parse(s: &str) -> Option<View> {
        match s {
            "desk" => Some(View::Desk),
            "renko" => Some(View::Renko),
            "positions" => Some(View::Positions),
            "orders" => Some(View::Orders),
            "log" => Some(View::Log),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Info,
    Ok,
    Refused,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub text: String,
    pub tone: Tone,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    None,
    Send(DeskCommand),
    Run(RunCommand),
    Chat(super::chat::ChatCommand),
    Quit,
}

pub struct App {
    pub snapshot: Option<Snapshot>,
    pub asset: usize,
    pub tab: Tab,
    pub view: Option<View>,
    pub status: Option<Status>,
    pub modal: Option<Modal>,
    pub trade_mode: TradeMode,
    pub size_mode: EntrySizeMode,
    pub override_next: bool,
    pub theme: Theme,
    /// Where the console gets its data (`local · 127.0.0.1:8000` or the attached URL).
    pub link_label: String,
    pub link_ok: bool,
    /// Ollama as the chat service sees it (`/chat/health`), when known.
    pub ollama: Option<super::chat::OllamaHealth>,
    /// How the server runs Python strategies (`bubblewrap`, `unsandboxed`, `refused`), when known.
    pub sandbox: Option<String>,
    /// Runs tab: selected run (index in the list), selected series, following the newest live run.
    pub run_index: usize,
    pub series_index: usize,
    pub follow: bool,
    /// Backtests tab: the selected backtest (place and id), its detail once fetched (or why not),
    /// the selected fill.
    pub backtest_index: usize,
    pub backtest_selected: Option<i64>,
    pub backtest: Option<Value>,
    pub backtest_error: Option<String>,
    pub trade_index: usize,
    /// Research tab: the selected job (place, and id so it stays selected as new jobs arrive).
    pub job_index: usize,
    pub job_selected: Option<String>,
    /// In LIVE, entry keys send at once (config `one_click`); otherwise they ask `y`/`n`.
    pub one_click: bool,
    /// The Chat tab: model, targets, conversation, the answer arriving, the input.
    pub chat: super::chat::ChatView,
    /// The Desk chart's brick size (`[` and `]`).
    pub chart_size: BrickSize,
}

impl App {
    pub fn new(theme: Theme, link_label: String) -> App {
        App {
            snapshot: None,
            asset: 0,
            tab: Tab::Desk,
            view: None,
            status: None,
            modal: None,
            trade_mode: TradeMode::Scalp,
            size_mode: EntrySizeMode::Six,
            override_next: false,
            theme,
            link_label,
            link_ok: true,
            ollama: None,
            sandbox: None,
            run_index: 0,
            series_index: 0,
            follow: false,
            backtest_index: 0,
            backtest_selected: None,
            backtest: None,
            backtest_error: None,
            trade_index: 0,
            job_index: 0,
            job_selected: None,
            one_click: false,
            chat: super::chat::ChatView::new(None),
            chart_size: BrickSize::Main,
        }
    }

    pub fn state(&self) -> Option<&StateView> {
        self.snapshot.as_ref().map(|s| &s.state)
    }

    pub fn current(&self) -> Option<&AssetView> {
        self.state().and_then(|s| s.assets.get(self.asset))
    }

    /// The selected asset's name, for fetching its brick history.
    pub fn asset_name(&self) -> Option<String> {
        self.current().map(|a| a.asset.clone())
    }

    pub fn set_status(&mut self, tone: Tone, text: impl Into<String>) {
        self.status = Some(Status {
            text: text.into(),
            tone,
        });
    }

    /// What the next fetch should bring about runs.
    pub fn runs_wanted(&self) -> RunsWanted {
        // the Chat tab picks its run from the list too
        let list = matches!(self.tab, Tab::Runs | Tab::Chat);
        let detail = if self.tab == Tab::Runs {
            self.selected_run().map(|r| r.run_id.clone())
        } else {
            None
        };
        let backtests = self.tab == Tab::Backtests;
        // a finished backtest never changes: fetched once per selection
        let backtest = self.selected_backtest().map(|b| b.id).filter(|id| {
            backtests && self.backtest.as_ref().and_then(|d| d["id"].as_i64()) != Some(*id)
        });
        RunsWanted {
            list,
            detail,
            backtests,
            backtest,
            research: self.tab == Tab::Research,
        }
    }

    pub fn selected_job(&self) -> Option<&crate::services::research::store::Job> {
        self.snapshot
            .as_ref()
            .and_then(|s| s.research.as_ref())
            .and_then(|r| r.jobs.get(self.job_index))
    }

    pub fn selected_backtest(&self) -> Option<&crate::services::backtest::store::Summary> {
        self.snapshot
            .as_ref()
            .and_then(|s| s.backtests.get(self.backtest_index))
    }

    pub fn selected_run(&self) -> Option<&crate::engine::runs::RunSummary> {
        self.snapshot
            .as_ref()
            .and_then(|s| s.runs.get(self.run_index))
    }

    pub fn set_snapshot(&mut self, snap: Snapshot) {
        if self.asset >= snap.state.assets.len() {
            self.asset = 0;
        }
        if self.follow
            && let Some(i) = snap
                .runs
                .iter()
                .position(|r| r.lifecycle == Lifecycle::Live)
        {
            self.run_index = i;
        }
        if self.run_index >= snap.runs.len() {
            self.run_index = snap.runs.len().saturating_sub(1);
        }
        let mut snap = snap;
        if let Some(b) = snap.backtest.take() {
            // a new backtest's trades start at the top; the same one's keep their place
            if self.backtest.as_ref().map(|o| &o["id"]) != Some(&b["id"]) {
                self.trade_index = 0;
            }
            self.backtest = Some(b);
        }
        self.backtest_error = snap.backtest_error.take();
        // the list keeps the last one fetched while another tab is open
        if !snap.backtests_listed
            && let Some(old) = self.snapshot.as_mut()
        {
            snap.backtests = std::mem::take(&mut old.backtests);
        }
        // the selection follows its backtest when newer ones arrive above it
        if let Some(i) = self
            .backtest_selected
            .and_then(|id| snap.backtests.iter().position(|b| b.id == id))
        {
            self.backtest_index = i;
        }
        self.backtest_index = self
            .backtest_index
            .min(snap.backtests.len().saturating_sub(1));
        self.backtest_selected = snap.backtests.get(self.backtest_index).map(|b| b.id);
        // research: the last fetched is kept while another tab is open; the job selection
        // follows its job
        if snap.research.is_none()
            && let Some(old) = self.snapshot.as_mut()
        {
            snap.research = old.research.take();
        }
        if let Some(r) = &snap.research {
            if let Some(i) = self
                .job_selected
                .as_ref()
                .and_then(|id| r.jobs.iter().position(|j| &j.job_id == id))
            {
                self.job_index = i;
            }
            self.job_index = self.job_index.min(r.jobs.len().saturating_sub(1));
            self.job_selected = r.jobs.get(self.job_index).map(|j| j.job_id.clone());
        }
        self.snapshot = Some(snap);
        self.link_ok = true;
    }

    /// The result of a command the console sent: success summary or the engine's refusal, verbatim.
    pub fn command_done(&mut self, result: Result<String, String>) {
        match result {
            Ok(s) => self.set_status(Tone::Ok, s),
            Err(e) => self.set_status(Tone::Refused, e),
        }
    }

    pub fn on_key(&mut self, key: KeyEvent) -> Effect {
        if let Some(modal) = self.modal.take() {
            return self.on_modal_key(modal, key);
        }
        if self.chat.typing && self.scope() == Scope::Tab(Tab::Chat) {
            return self.on_text_key(key);
        }
        match action_for(&key, self.scope()) {
            Some(a) => self.on_action(a),
            None => Effect::None,
        }
    }

    /// The key map in force: the tab's, or the Desk's for a single-pane `--view`.
    pub fn scope(&self) -> Scope {
        match self.view {
            Some(_) => Scope::Tab(Tab::Desk),
            None => Scope::Tab(self.tab),
        }
    }
}
