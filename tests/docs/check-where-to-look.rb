#!/usr/bin/env ruby
# frozen_string_literal: true

# Checks the README's "Where to look" table against the tree, so that a rename breaks this check instead
# of a newcomer's first hour. In each row, every `path` must exist, and every `name` after a path (a
# C++ identifier, `Type::member`, or `name()`) must occur, as written, in the last path named before it.
# Other code spans (`503`, `Idempotency-Key`, `/scale`) are prose. Rows must name at least one path and one
# name each: a check that finds nothing to check proves nothing.
# Usage: check-where-to-look.rb ROOT FILE   (exit 1 and one line per bad reference)

root, file = ARGV
abort "usage: check-where-to-look.rb ROOT FILE" unless root && file

lines = File.readlines(File.join(root, file), chomp: true)
start = lines.index("## Where to look") or abort "#{file}: no \"## Where to look\" section"
rows = lines[(start + 1)..].take_while { |line| !line.start_with?("## ") }
                          .each_with_index.map { |line, i| [line, start + 2 + i] }
                          .select { |line, _| line.start_with?("|") && !line.match?(/\A\|[-| ]+\|\z/) }
rows = rows.drop(1) # the header
abort "#{file}: the \"Where to look\" table has no rows" if rows.empty?

errors = []
names_checked = 0
rows.each do |line, number|
  at = "#{file}:#{number}"
  current = nil
  paths = 0
  names = 0
  line.scan(/`([^`]+)`/) do |(span)|
    if span.match?(%r{\A[\w.-]+(?:/[\w.-]+)+\z}) && span.match?(/\.\w+\z/)
      paths += 1
      if File.file?(File.join(root, span))
        current = File.read(File.join(root, span))
      else
        errors << "#{at}: file #{span} does not exist"
        current = nil
      end
    elsif span.match?(/\A[A-Za-z_]\w*(?:::[A-Za-z_]\w*)*(?:\(\))?\z/)
      next if current.nil? && paths.positive? # its file is already reported missing
      name = span.delete_suffix("()")
      names += 1
      if current.nil?
        errors << "#{at}: #{span} comes before any file"
      elsif !current.match?(/(?<![\w:])#{Regexp.escape(name)}(?!\w)/)
        errors << "#{at}: #{span} does not occur in the file named before it"
      end
    end
  end
  errors << "#{at}: a row that names no file" if paths.zero?
  errors << "#{at}: a row that names no function, type or test" if names.zero?
  names_checked += names
end

if errors.empty?
  puts "#{rows.size} rows, #{names_checked} names found in their files"
else
  warn errors
  exit 1
end
