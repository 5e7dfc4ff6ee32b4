// The lecture's results as one page: summary, claims with their verdicts, notes, plots.
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "lecture.hpp"

namespace lecture {

namespace fs = std::filesystem;

std::vector<Tally> tally(const std::vector<Claim>& claims) {
    std::vector<Tally> out;
    Tally all{"all"};
    for (auto& e : examples()) {
        Tally t{e.name};
        for (auto& c : claims)
            if (c.example == e.name) {
                ++t.claims;
                t.hold += c.holds;
            }
        if (t.claims == 0) continue;
        all.claims += t.claims;
        all.hold += t.hold;
        out.push_back(t);
    }
    for (auto& c : claims)  // claims outside the examples (an example that threw)
        if (std::none_of(out.begin(), out.end(), [&](const Tally& t) { return t.example == c.example; })) {
            ++all.claims;
            all.hold += c.holds;
        }
    out.push_back(all);
    return out;
}

namespace {
std::string escaped(const std::string& s) {
    std::string out;
    for (char c : s) switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            default:
                out += c;
        }
    return out;
}

std::string anchor(const std::string& s) {
    std::string out;
    for (char c : s) out += std::isalnum(static_cast<unsigned char>(c)) ? char(std::tolower(c)) : '-';
    return out;
}
}  // namespace

std::string Context::write_index(double seconds) const {
    auto tallies = tally(claims_);
    const Tally& all = tallies.back();
    std::ostringstream html;
    html << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
         << "<title>Backprop variations: " << all.hold << " of " << all.claims << " claims hold</title>\n"
         << "<style>body{font-family:sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222}"
            "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;"
            "text-align:left;vertical-align:top}th{background:#f3f3f3}.holds{color:#070}.fails{color:#b00;"
            "font-weight:bold}.num{text-align:right}img{max-width:100%;border:1px solid #ddd}"
            "li{margin:.2em 0}code{background:#f6f6f6}</style>\n</head><body>\n"
         << "<h1>Backprop variations, computed with xtgrad and checked</h1>\n"
         << "<p><b>" << all.hold << " of " << all.claims << " claims hold</b> (" << std::fixed << std::setprecision(1)
         << seconds << " s). Each claim of the lecture is computed and checked; "
         << "the CSV behind every plot sits beside this page.</p>\n"
         << "<h2>Summary</h2>\n<table><tr><th>example</th><th>claims</th><th>hold</th></tr>\n";
    for (auto& t : tallies) {
        bool total = &t == &tallies.back();
        html << "<tr><td>"
             << (total ? "<b>all</b>" : "<a href=\"#" + anchor(t.example) + "\">" + escaped(t.example) + "</a>")
             << "</td><td class=\"num\">" << t.claims << "</td><td class=\"num "
             << (t.hold == t.claims ? "holds" : "fails") << "\">" << t.hold << "</td></tr>\n";
    }
    html << "</table>\n";
    for (auto& section : sections_) {
        html << "<h2 id=\"" << anchor(section.example) << "\">" << escaped(section.example) << "</h2>\n";
        html << "<table><tr><th>claim</th><th>measured</th><th>verdict</th></tr>\n";
        for (auto& c : claims_)
            if (c.example == section.example)
                html << "<tr><td>" << escaped(c.statement) << "</td><td>" << escaped(c.measured) << "</td><td class=\""
                     << (c.holds ? "holds\">holds" : "fails\">does not hold") << "</td></tr>\n";
        html << "</table>\n";
        if (!section.notes.empty()) {
            html << "<ul>\n";
            for (auto& n : section.notes) html << "<li>" << escaped(n) << "</li>\n";
            html << "</ul>\n";
        }
        for (auto& p : section.plots) {
            if (fs::exists(fs::path(output_dir_) / (p + ".png")))
                html << "<p><img src=\"" << escaped(p) << ".png\" alt=\"" << escaped(p) << "\"><br>";
            else
                html << "<p>(no plot: gnuplot is not installed) ";
            html << "<a href=\"" << escaped(p) << ".csv\">" << escaped(p) << ".csv</a>";
            if (fs::exists(fs::path(output_dir_) / (p + ".svg")))
                html << " · <a href=\"" << escaped(p) << ".svg\">SVG</a>";
            html << "</p>\n";
        }
    }
    html << "</body></html>\n";
    // written beside, then renamed over: a reader never sees half a page
    fs::path path = fs::path(output_dir_) / "index.html";
    fs::path tmp = fs::path(output_dir_) / (".index.html.tmp-" + std::to_string(::getpid()));
    {
        std::ofstream out(tmp);
        out << html.str();
        if (!out) throw std::runtime_error("cannot write " + tmp.string());
    }
    fs::rename(tmp, path);
    return path.string();
}

}  // namespace lecture
