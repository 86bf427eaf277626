#!/usr/bin/env ruby
# frozen_string_literal: true

# Checks that the lab's scripts and docs name only things that exist, so that a rename elsewhere breaks
# this check instead of a newcomer's `vagrant up`:
#   files      repository paths (scripts/..., charts/..., docs/..., also as /vagrant/... or $root/...)
#   values     `--set KEY=` keys, and every key of a chart values file they name, in the chart's values.yaml
#   images     movie-platform/NAME:TAG and the programs given to lab_build_program / lab_run_program:
#              a Dockerfile target that the chart deploys (or, for programs, a CMake executable)
#   objects    svc/NAME, deployment/NAME, ..., `get secret NAME`: an object of the lab's rendering
#   nodePorts  :30000-32767 in the text: a nodePort of the lab's rendering
# Usage: check-references.rb ROOT RENDERED_LAB_YAML FILE...   (exit 1 and one line per bad reference)
require "yaml"

root, rendered, *files = ARGV
abort "usage: check-references.rb ROOT RENDERED_LAB_YAML FILE..." if files.empty?

def read(root, path) = File.read(File.join(root, path))

chart = "charts/movie-platform"
defaults = YAML.safe_load(read(root, "#{chart}/values.yaml"))
dockerfile_targets = read(root, "Dockerfile").scan(/^FROM\s+\S+\s+AS\s+(\S+)/i).flatten - ["builder"]
templates = Dir.glob(File.join(root, chart, "templates", "**", "*")).select { |f| File.file?(f) }.map { |f| File.read(f) }.join("\n")
services_map = templates[/define "movie-platform\.services" -\}\}(.*?)\{\{- end/m, 1].to_s
chart_programs = services_map.scan(/^([a-z][a-z0-9-]*):/).flatten + templates.scan(/"program" "([a-z][a-z0-9-]*)"/).flatten
cmake_programs = Dir.glob(File.join(root, "{services,operator}", "**", "CMakeLists.txt"))
                    .flat_map { |f| File.read(f).scan(/add_executable\(([\w-]+)/).flatten }
objects = Hash.new { |h, k| h[k] = [] }
node_ports = []
YAML.load_stream(File.read(rendered)) do |doc|
  next unless doc.is_a?(Hash) && doc["kind"]
  objects[doc["kind"].downcase] << doc.dig("metadata", "name")
  Array(doc.dig("spec", "ports")).each { |p| node_ports << p["nodePort"] if p["nodePort"] }
end
kinds = {"svc" => "service", "service" => "service", "deploy" => "deployment", "deployment" => "deployment",
         "sts" => "statefulset", "statefulset" => "statefulset", "secret" => "secret", "pvc" => "persistentvolumeclaim",
         "servicepolicy" => "servicepolicy", "configmap" => "configmap", "lease" => "lease"}

# dotted key paths present in a values tree; an empty map default ({}) accepts anything below it.
def key_known?(tree, keys)
  keys.each_with_index do |key, i|
    return false unless tree.is_a?(Hash) && tree.key?(key)
    tree = tree[key]
    return true if tree.is_a?(Hash) && tree.empty? && i < keys.size - 1
  end
  true
end

def leaf_paths(tree, prefix = [])
  return [prefix] unless tree.is_a?(Hash) && !tree.empty?
  tree.flat_map { |k, v| leaf_paths(v, prefix + [k.to_s]) }
end

errors = []
checked = Hash.new(0) # references seen, per kind: a check that finds nothing to check proves nothing
files.each do |file|
  text = File.read(File.join(root, file))
  text.each_line.with_index(1) do |line, number|
    next if line.start_with?("# expect: ") # a broken fixture's own expectation
    at = "#{file}:#{number}"
    line.scan(%r{(?<![\w.-])(?:/vagrant/|\$root/)?((?:scripts|charts|tests|docs|services|operator|bench)/[\w./-]*\w)(?![\w$*\{#-])}) do |(path)|
      checked[:files] += 1
      errors << "#{at}: file #{path} does not exist" unless File.exist?(File.join(root, path))
      values_file = path.match?(%r{\A#{chart}/(?:ci/)?values-?[\w-]*\.yaml\z}) ||
                    line.match?(/(?:-f|--values)[= ]+(?:\$root\/)?#{Regexp.escape(path)}(?![\w.\/-])/)
      next unless values_file && path != "#{chart}/values.yaml" && File.file?(File.join(root, path))
      leaf_paths(YAML.safe_load(read(root, path))).each do |keys|
        checked[:values] += 1
        errors << "#{at}: values key #{keys.join(".")} (in #{path}) is not in #{chart}/values.yaml" unless key_known?(defaults, keys)
      end
    end
    line.scan(/--set(?:-string)?[= ]([\w.-]+)=/) do |(key)|
      checked[:values] += 1
      errors << "#{at}: values key #{key} is not in #{chart}/values.yaml" unless key_known?(defaults, key.split("."))
    end
    line.scan(%r{(?<![\w-])movie-platform/([a-z][a-z0-9-]*):}) do |(name)|
      checked[:images] += 1
      unless dockerfile_targets.include?(name) && chart_programs.include?(name)
        errors << "#{at}: image movie-platform/#{name} is not a Dockerfile target the chart deploys " \
                  "(targets: #{dockerfile_targets.join(", ")})"
      end
    end
    line.scan(/\blab_(?:build|run)_program\s+([a-z][a-z0-9-]*)/) do |(name)|
      checked[:programs] += 1
      unless dockerfile_targets.include?(name) && cmake_programs.include?(name)
        errors << "#{at}: program #{name} is not a CMake executable with a Dockerfile target"
      end
    end
    line.scan(%r{\b(svc|service|deploy|deployment|sts|statefulset|secret|pvc|servicepolicy|configmap|lease)(?:/| +)([a-z][a-z0-9-]*[a-z0-9])\b}) do |(kind, name)|
      next if line !~ /kubectl|rollout|port-forward/ # only what kubectl is asked for
      checked[:objects] += 1
      errors << "#{at}: #{kinds[kind]} #{name} is not in the lab's rendering of the chart" unless objects[kinds[kind]].include?(name)
    end
    line.scan(/:(3[0-2]\d{3})\b/) do |(port)|
      checked[:nodePorts] += 1
      errors << "#{at}: port #{port} is not a nodePort of the lab's rendering (#{node_ports.sort.join(", ")})" unless node_ports.include?(port.to_i)
    end
  end
end
errors.uniq.each { |e| warn e }
puts "check-references: #{files.size} files; references checked: " \
     "#{%i[files values images programs objects nodePorts].map { |k| "#{k} #{checked[k]}" }.join(", ")}; " \
     "#{errors.uniq.size} bad"
exit(errors.empty? ? 0 : 1)
