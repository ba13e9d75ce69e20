// Prometheus exposition: writer output, number formatting, name validation, parsing.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "server/prometheus.h"

namespace modelgrid::server {
namespace {

TEST(Prometheus, RoundTripsHostileLabelValues) {
  const std::string hostile[] = {"plain",
                                 "with \"quotes\"",
                                 "back\\slash",
                                 "new\nline",
                                 "trailing\\",
                                 "}{,=\" ",
                                 "\\n literal",
                                 "",
                                 "utf-8 \xC3\xA9\xE2\x82\xAC",
                                 "# not a comment"};
  PrometheusWriter writer;
  writer.Family("mg_hostile", "gauge", "Help with \\ backslash\nand newline \"quoted\".");
  for (size_t i = 0; i < std::size(hostile); ++i) {
    writer.Sample("mg_hostile", {{"i", std::to_string(i)}, {"v", hostile[i]}},
                  static_cast<double>(i));
  }
  const std::string text = writer.Take();
  EXPECT_NE(text.find("# HELP mg_hostile Help with \\\\ backslash\\nand newline \"quoted\".\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("# TYPE mg_hostile gauge\n"), std::string::npos);
  EXPECT_NE(text.find("mg_hostile{i=\"3\",v=\"new\\nline\"} 3\n"), std::string::npos) << text;

  auto parsed = ParsePrometheusText(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString() << "\n" << text;
  ASSERT_EQ(parsed->size(), std::size(hostile));
  for (size_t i = 0; i < std::size(hostile); ++i) {
    const PrometheusSample& s = (*parsed)[i];
    EXPECT_EQ(s.name, "mg_hostile");
    ASSERT_EQ(s.labels.size(), 2u);
    EXPECT_EQ(s.labels[1].second, hostile[i]) << "sample " << i;
    EXPECT_EQ(s.value, static_cast<double>(i));
    EXPECT_EQ(FindSample(*parsed, "mg_hostile", {{"v", hostile[i]}}), static_cast<double>(i));
  }
}

TEST(Prometheus, FormatsNumbersAsPrometheusSpellsThem) {
  const double two53 = 9007199254740992.0;
  struct Case {
    double value;
    const char* text;
  } cases[] = {
      {0, "0"},
      {-0.0, "0"},
      {42, "42"},
      {-7, "-7"},
      {1e15, "1000000000000000"},
      {two53 - 1, "9007199254740991"},
      {0.5, "0.5"},
      {0.1, "0.1"},
      {-2.25, "-2.25"},
      {std::numeric_limits<double>::quiet_NaN(), "NaN"},
      {std::numeric_limits<double>::infinity(), "+Inf"},
      {-std::numeric_limits<double>::infinity(), "-Inf"},
  };
  for (const Case& c : cases) EXPECT_EQ(FormatPrometheusValue(c.value), c.text) << c.text;
  // At and beyond 2^53 integers are no longer exact: shortest round-trip notation.
  for (double big : {two53, 1e20, -1e300, 1.5e-300}) {
    const std::string text = FormatPrometheusValue(big);
    EXPECT_EQ(std::stod(text), big) << text;
  }
  EXPECT_EQ(FormatPrometheusValue(1e20), "1e+20");

  PrometheusWriter writer;
  writer.Sample("a", {}, std::numeric_limits<double>::quiet_NaN());
  writer.Sample("b", {}, -std::numeric_limits<double>::infinity());
  writer.Sample("c", {}, 0.1);
  writer.Sample("d", {}, 1e20);
  const std::string text = writer.Take();
  EXPECT_EQ(text, "a NaN\nb -Inf\nc 0.1\nd 1e+20\n");
  auto parsed = ParsePrometheusText(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_TRUE(std::isnan(*FindSample(*parsed, "a")));
  EXPECT_EQ(*FindSample(*parsed, "b"), -std::numeric_limits<double>::infinity());
  EXPECT_EQ(*FindSample(*parsed, "c"), 0.1);
  EXPECT_EQ(*FindSample(*parsed, "d"), 1e20);
}

TEST(Prometheus, FamilyHeaderWrittenOnce) {
  PrometheusWriter writer;
  writer.Family("mg_requests_total", "counter", "Requests.");
  writer.Sample("mg_requests_total", {{"code", "200"}}, 1);
  writer.Family("mg_requests_total", "gauge", "Different help.");
  writer.Sample("mg_requests_total", {{"code", "500"}}, 2);
  const std::string text = writer.Take();
  EXPECT_EQ(text,
            "# HELP mg_requests_total Requests.\n"
            "# TYPE mg_requests_total counter\n"
            "mg_requests_total{code=\"200\"} 1\n"
            "mg_requests_total{code=\"500\"} 2\n");
  EXPECT_EQ(writer.dropped(), 0u);
  // Take() starts a fresh exposition: the family may be declared again.
  writer.Family("mg_requests_total", "counter", "Requests.");
  EXPECT_EQ(writer.Take().find("# HELP"), 0u);
}

TEST(Prometheus, InvalidNamesAreDroppedAndCounted) {
  PrometheusWriter writer;
  writer.Family("1bad", "counter", "x");              // metric name starts with digit
  writer.Family("good", "histogramm", "x");           // unknown type
  writer.Sample("bad-name", {}, 1);                   // '-' not allowed
  writer.Sample("", {}, 1);                           // empty
  writer.Sample("ok", {{"bad:label", "v"}}, 1);       // ':' not allowed in labels
  writer.Sample("ok", {{"", "v"}}, 1);                // empty label name
  writer.Sample("ok", {{"l", "a"}, {"l", "b"}}, 1);   // repeated label
  writer.Sample("ok", {{"l\n", "v"}}, 1);             // control character
  writer.Sample("ns:sub_metric", {{"_l9", "v"}}, 3);  // valid
  EXPECT_EQ(writer.dropped(), 8u);
  EXPECT_EQ(writer.Take(), "ns:sub_metric{_l9=\"v\"} 3\n");
  EXPECT_EQ(writer.dropped(), 8u);

  EXPECT_TRUE(IsValidMetricName(":a_b:9"));
  EXPECT_FALSE(IsValidMetricName("9a"));
  EXPECT_TRUE(IsValidLabelName("_a9"));
  EXPECT_FALSE(IsValidLabelName("a:b"));
  EXPECT_FALSE(IsValidLabelName("9"));
}

TEST(Prometheus, ParserAcceptsTheTextFormat) {
  const char* text =
      "# HELP x Some help.\n"
      "# TYPE x counter\n"
      "# a free comment\n"
      "\n"
      "x 1\n"
      "x{a=\"1\"} 2 1700000000000\n"
      "x{ a = \"2\" , b=\"q\\\"\\\\\\n\", } 3 -5\r\n"
      "  y\t+Inf\n"
      "z{} -1.5e3";
  auto parsed = ParsePrometheusText(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  ASSERT_EQ(parsed->size(), 5u);
  EXPECT_EQ(FindSample(*parsed, "x"), 1);
  EXPECT_EQ(FindSample(*parsed, "x", {{"a", "1"}}), 2);
  EXPECT_EQ(FindSample(*parsed, "x", {{"b", "q\"\\\n"}, {"a", "2"}}), 3);
  EXPECT_EQ(FindSample(*parsed, "y"), std::numeric_limits<double>::infinity());
  EXPECT_EQ(FindSample(*parsed, "z"), -1500);
  EXPECT_FALSE(FindSample(*parsed, "x", {{"a", "3"}}).has_value());
  EXPECT_FALSE(FindSample(*parsed, "w").has_value());
  EXPECT_TRUE(ParsePrometheusText("").ok());
}

TEST(Prometheus, ParserRejectsMalformedLinesWithLineNumber) {
  const char* bad[] = {
      "x",                     // no value
      "x abc",                 // bad value
      "x 1 2 3",               // trailing junk
      "x 1 1.5",               // non-integer timestamp
      "x{a=\"1\" 1",           // unterminated label set
      "x{a=\"1} 1",            // unterminated value
      "x{a=1} 1",              // unquoted value
      "x{a=\"\\t\"} 1",        // unknown escape
      "x{1a=\"v\"} 1",         // bad label name
      "x{a=\"1\",a=\"2\"} 1",  // repeated label
      "x{a=\"1\"b=\"2\"} 1",   // missing comma
      "-x 1",                  // bad metric name
      "x{a=\"1\"}1",           // no blank before the value
      "x 1e999",               // out of range
      "x --1",                 // double sign
  };
  for (const char* line : bad) {
    const std::string text = std::string("# HELP x h\nok 1\n") + line + "\n";
    auto parsed = ParsePrometheusText(text);
    ASSERT_FALSE(parsed.ok()) << line;
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument) << line;
    EXPECT_NE(parsed.status().message().find("line 3"), std::string::npos)
        << line << ": " << parsed.status().message();
  }
}

}  // namespace
}  // namespace modelgrid::server
