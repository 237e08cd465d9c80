//! Full-frame render time of the Desk (200×50, 160×48 and 80×24, charts included) on a TestBackend, beside the peer: a
//! plain full-screen Paragraph of the same text, ratatui's floor for a frame of that size.
#[path = "../tests/it/support/mod.rs"]
mod support;
use criterion::{Criterion, criterion_group, criterion_main};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::widgets::Paragraph;
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let app = rt.block_on(async {
        let f = support::fixture::rich_desk().await;
        support::fixture::app(&f, "dark").await
    });
    let mut g = c.benchmark_group("render");
    for (w, h) in [(200u16, 50u16), (160, 48), (80, 24)] {
        let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
        g.bench_function(format!("desk {w}x{h}"), |b| {
            b.iter(|| {
                term.draw(|f| brickdesk::tui::ui::draw(f, &app)).unwrap();
                black_box(term.backend().buffer().area);
            })
        });
        term.draw(|f| brickdesk::tui::ui::draw(f, &app)).unwrap();
        let text = term.backend().to_string().replace('"', "");
        let mut plain = Terminal::new(TestBackend::new(w, h)).unwrap();
        g.bench_function(format!("peer paragraph {w}x{h}"), |b| {
            b.iter(|| {
                plain
                    .draw(|f| f.render_widget(Paragraph::new(text.as_str()), f.area()))
                    .unwrap();
                black_box(plain.backend().buffer().area);
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
